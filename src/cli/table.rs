//! The README's options table, made from the command line's own definitions, so that the
//! two cannot drift apart (a test compares them).

use super::command;

/// Keys a profile cannot hold: where profiles are, and standard input.
const NOT_IN_A_PROFILE: &[&str] = &["profile", "config", "password-stdin", "help"];

/// One markdown row per argument of `mount`: the flag, its profile key, its help.
pub fn options_table() -> String {
    let mut cmd = command();
    let mount = cmd.find_subcommand_mut("mount").expect("mount exists");
    let mut out = String::from("| option | profile key | meaning |\n|---|---|---|\n");
    for arg in mount.get_arguments() {
        let Some(help) = arg.get_help() else { continue };
        let (flag, key) = names(arg);
        if flag == "--help" {
            continue;
        }
        let help = help.to_string().replace('|', "\\|");
        out.push_str(&format!("| {flag} | {key} | {help} |\n"));
    }
    out
}

/// `--flag VALUE` (or `SOURCE`) and its profile key.
fn names(arg: &clap::Arg) -> (String, String) {
    let value = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string());
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|p| p.get_name().to_owned())
        .collect();
    let value =
        if choices.is_empty() || arg.get_action().takes_values() && choices == ["true", "false"] {
            value
        } else {
            Some(choices.join("\\|"))
        };
    let Some(long) = arg.get_long() else {
        let name = value.unwrap_or_default();
        let key = if name == "SOURCE" { "`source`" } else { "—" };
        return (format!("`{name}`"), key.into());
    };
    let flag = match (value, arg.get_action().takes_values()) {
        (Some(v), true) => format!("`--{long} {v}`"),
        _ => format!("`--{long}`"),
    };
    let key = if NOT_IN_A_PROFILE.contains(&long) {
        "—".to_owned()
    } else {
        format!("`{long}`")
    };
    (flag, key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_table_is_the_command_lines() {
        let readme = include_str!("../../README.md");
        let table = super::options_table();
        assert!(
            readme.contains(&table),
            "README.md's `### All options` table is out of date; it should read:\n{table}"
        );
    }
}
