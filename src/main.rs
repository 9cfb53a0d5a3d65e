fn main() -> std::process::ExitCode {
    xetfs::cli::main()
}
