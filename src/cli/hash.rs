//! `xetfs hash`: the Xet file hash of local files, one `<hash>  <path>` line each (like
//! `sha256sum`). Files are streamed, so memory stays bounded whatever their size.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::xet::file_hash_of_reader;

#[derive(Debug, clap::Args)]
pub struct HashArgs {
    /// Files to hash
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: HashArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for path in &args.files {
        let hashed = std::fs::File::open(path).and_then(file_hash_of_reader);
        match hashed {
            Ok(hash) => writeln!(out, "{hash}  {}", path.display())?,
            Err(e) => {
                out.flush()?;
                eprintln!("xetfs hash: {}: {e}", path.display());
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
