//! Variables into clap: each argument declared with `env = NAME` is fed `--its-flag=<value>` from
//! any lookup (the process environment, or a map in tests), so that both go through the same
//! parsers, and every bad variable is named.

use std::error::Error as _;

use clap::{Args, Command, FromArgMatches};

/// Parses `T` from the variables its arguments name, read through `lookup` (trimmed; blank counts
/// as unset). Returns what parsed, and a problem line (`NAME: what is wrong`) per bad variable.
///
/// clap stops at the first bad value, so each variable set is first parsed alone: every bad one
/// is named, whatever the others hold. The good ones are then parsed together and the bad ones
/// take their defaults, so that the rules spanning several variables still run on the rest.
pub fn read<T: Args + FromArgMatches>(
    lookup: impl Fn(&str) -> Option<String>,
) -> (Option<T>, Vec<String>) {
    let command = T::augment_args(Command::new("config").no_binary_name(true));
    let given: Vec<(String, String)> = command
        .get_arguments()
        .filter_map(|arg| {
            let (name, long) = (arg.get_env()?.to_str()?, arg.get_long()?);
            let value = lookup(name)?;
            let value = value.trim();
            (!value.is_empty()).then(|| (name.to_string(), format!("--{long}={value}")))
        })
        .collect();
    // The values come from `lookup` alone: clap must not read the process environment itself.
    let mut command = command.mut_args(|arg| arg.env(None));

    let mut problems = Vec::new();
    let mut good = Vec::new();
    for (name, flag) in given {
        match command.try_get_matches_from_mut([&flag]) {
            Ok(_) => good.push(flag),
            // Our parsers' messages are the error's source; clap's own text would echo the
            // value, which may be a secret.
            Err(error) => problems.push(match error.source() {
                Some(why) => format!("{name}: {why}"),
                None => format!("{name}: {}", error.kind()),
            }),
        }
    }
    match command
        .try_get_matches_from_mut(good)
        .and_then(|matches| T::from_arg_matches(&matches))
    {
        Ok(parsed) => (Some(parsed), problems),
        Err(error) => {
            problems.push(error.kind().to_string());
            (None, problems)
        }
    }
}

/// `T` as declared when no variable is set: its defaults, from the one place they are written.
pub fn defaults<T: Args + FromArgMatches>() -> T {
    read(|_| None)
        .0
        .expect("the declared defaults parse (`config::tests` reads an empty environment)")
}

/// Every variable of `T` with its default and help, one entry each, for `--help`.
pub fn describe<T: Args>() -> String {
    let command = T::augment_args(Command::new("config"));
    command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| {
            let name = arg.get_env()?.to_string_lossy();
            let default = match arg.get_default_values() {
                [default, ..] if !default.is_empty() => format!("={}", default.to_string_lossy()),
                _ => String::new(),
            };
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            Some(format!("  {name}{default}\n          {help}\n"))
        })
        .collect()
}
