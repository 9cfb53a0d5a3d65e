//! The environment front ends honour: `huggingface_hub`'s variables (so xetfs sees the same
//! Hub, token, cache root and offline switch as the official clients) and xetfs' own deadline
//! knobs. Read through a lookup function so that tests need not touch the process environment.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::stack::Settings;
use crate::util::units::parse_duration;

/// The environment: a variable's value, if set. Empty values count as unset.
pub struct Env<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { get }
    }

    pub fn var(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.var(name).map(PathBuf::from)
    }

    /// `$XDG_CACHE_HOME`, else `~/.cache`.
    fn xdg_cache(&self) -> Option<PathBuf> {
        self.path("XDG_CACHE_HOME")
            .or_else(|| self.path("HOME").map(|h| h.join(".cache")))
    }

    /// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
    pub fn hf_home(&self) -> Option<PathBuf> {
        self.path("HF_HOME")
            .or_else(|| self.xdg_cache().map(|c| c.join("huggingface")))
    }

    /// `$HF_ENDPOINT`.
    pub fn endpoint(&self) -> Option<String> {
        self.var("HF_ENDPOINT")
    }

    /// `$HF_TOKEN`.
    pub fn token(&self) -> Option<String> {
        self.var("HF_TOKEN")
    }

    /// `$HF_TOKEN_PATH`, else `$HF_HOME/token`.
    pub fn token_file(&self) -> Option<PathBuf> {
        self.path("HF_TOKEN_PATH")
            .or_else(|| self.hf_home().map(|h| h.join("token")))
    }

    /// xetfs' cache: `$HF_HOME/xetfs` when HF_HOME is set, else `$XDG_CACHE_HOME/xetfs`, else
    /// `~/.cache/xetfs`.
    pub fn cache_dir(&self) -> Option<PathBuf> {
        self.path("HF_HOME")
            .or_else(|| self.xdg_cache())
            .map(|d| d.join("xetfs"))
    }

    /// `HF_HUB_OFFLINE`: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off` (any case).
    pub fn offline(&self) -> anyhow::Result<bool> {
        let Some(v) = self.var("HF_HUB_OFFLINE") else {
            return Ok(false);
        };
        match v.to_ascii_lowercase().as_str() {
            "1" | "on" | "yes" | "true" => Ok(true),
            "0" | "off" | "no" | "false" => Ok(false),
            _ => bail!("HF_HUB_OFFLINE: {v:?} is not a boolean (use 1 or 0)"),
        }
    }

    /// `XETFS_CONNECT_TIMEOUT`, `XETFS_RESPONSE_TIMEOUT`, `XETFS_IDLE_TIMEOUT`,
    /// `XETFS_CALL_TIMEOUT` (durations) and `XETFS_MAX_ATTEMPTS` override `settings`.
    pub fn apply_http_knobs(&self, settings: &mut Settings) -> anyhow::Result<()> {
        let d = &mut settings.deadlines;
        for (name, slot) in [
            ("XETFS_CONNECT_TIMEOUT", &mut d.connect),
            ("XETFS_RESPONSE_TIMEOUT", &mut d.response),
            ("XETFS_IDLE_TIMEOUT", &mut d.idle),
            ("XETFS_CALL_TIMEOUT", &mut d.request),
        ] {
            if let Some(v) = self.var(name) {
                *slot = positive_duration(&v).with_context(|| name.to_string())?;
            }
        }
        if let Some(v) = self.var("XETFS_MAX_ATTEMPTS") {
            settings.retry.max_attempts =
                v.parse().ok().filter(|n| *n >= 1).with_context(|| {
                    format!("XETFS_MAX_ATTEMPTS: {v:?} is not a whole number ≥ 1")
                })?;
        }
        Ok(())
    }
}

fn positive_duration(v: &str) -> anyhow::Result<Duration> {
    let d = parse_duration(v).map_err(anyhow::Error::msg)?;
    if d.is_zero() {
        bail!("{v:?}: a deadline must be positive");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce(&Env) -> T) -> T {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |k: &str| map.get(k).cloned();
        f(&Env::new(&get))
    }

    #[test]
    fn huggingface_hub_locations() {
        with_env(&[("HOME", "/h")], |e| {
            assert_eq!(e.hf_home(), Some("/h/.cache/huggingface".into()));
            assert_eq!(e.token_file(), Some("/h/.cache/huggingface/token".into()));
            assert_eq!(e.cache_dir(), Some("/h/.cache/xetfs".into()));
            assert_eq!(e.endpoint(), None);
        });
        let vars = [("HOME", "/h"), ("XDG_CACHE_HOME", "/x"), ("HF_HOME", "/hf")];
        with_env(&vars, |e| {
            assert_eq!(e.token_file(), Some("/hf/token".into()));
            assert_eq!(e.cache_dir(), Some("/hf/xetfs".into()), "HF_HOME wins");
        });
        with_env(&[("XDG_CACHE_HOME", "/x"), ("HF_TOKEN_PATH", "/t")], |e| {
            assert_eq!(e.cache_dir(), Some("/x/xetfs".into()));
            assert_eq!(e.token_file(), Some("/t".into()));
        });
        with_env(&[("HF_ENDPOINT", " "), ("HF_TOKEN", "")], |e| {
            assert_eq!((e.endpoint(), e.token()), (None, None), "empty is unset");
        });
    }

    #[test]
    fn offline_is_a_strict_boolean() {
        for (v, want) in [
            ("1", true),
            ("YES", true),
            ("on", true),
            ("0", false),
            ("off", false),
        ] {
            with_env(&[("HF_HUB_OFFLINE", v)], |e| {
                assert_eq!(e.offline().unwrap(), want)
            });
        }
        with_env(&[("HF_HUB_OFFLINE", "maybe")], |e| {
            assert!(format!("{:#}", e.offline().unwrap_err()).contains("HF_HUB_OFFLINE"));
        });
    }

    #[test]
    fn http_knobs_override_and_bad_values_name_the_variable() {
        let vars = [("XETFS_IDLE_TIMEOUT", "250ms"), ("XETFS_MAX_ATTEMPTS", "2")];
        let mut s = Settings::default();
        with_env(&vars, |e| e.apply_http_knobs(&mut s)).unwrap();
        assert_eq!(s.deadlines.idle, Duration::from_millis(250));
        assert_eq!(s.retry.max_attempts, 2);
        assert_eq!(s.deadlines.connect, Duration::from_secs(10), "untouched");
        for bad in [
            ("XETFS_IDLE_TIMEOUT", "soon"),
            ("XETFS_CALL_TIMEOUT", "0s"),
            ("XETFS_MAX_ATTEMPTS", "0"),
        ] {
            let e = with_env(&[bad], |e| e.apply_http_knobs(&mut Settings::default()));
            assert!(format!("{:#}", e.unwrap_err()).contains(bad.0), "{bad:?}");
        }
    }
}
