//! The command line's unit tests (parsing, usage errors, help and the option reference), in a
//! file of their own so that cli.rs holds the command line alone.

use super::*;

/// The options and commands as Markdown, from the rows `--help` is made from: what
/// docs/usage.md is checked against.
fn reference_markdown() -> String {
    let line = |o: &Opt| format!("- `{}`: {}\n", o.spec, o.help);
    let mut out = String::from("## Global options\n\n");
    out.extend(globals().map(line));
    for c in commands() {
        let help = c.help();
        let usage = help.lines().nth(1).unwrap_or_default().trim();
        out += &format!("\n## `{}`\n\n`{usage}`\n\n{}\n\n", c.name, c.about);
        out.extend(c.options().map(line));
    }
    out
}

fn parse_str(line: &str) -> Result<Parsed, UsageError> {
    parse(line.split_whitespace().map(OsString::from).collect())
}

/// What the parser says when it refuses `line`.
fn refusal(line: &str) -> String {
    match parse_str(line) {
        Err(err) => err.message,
        Ok(_) => panic!("`{line}` should be refused"),
    }
}

#[test]
fn the_raw_cap_takes_a_size_and_refuses_what_is_not_one() {
    let Ok(Parsed::Run(inv)) = parse_str("opt-dist rustc-pgo --raw-cap 512M") else {
        panic!("should parse")
    };
    assert_eq!(inv.options.raw_cap, 512 << 20);
    assert_eq!(bytes("2G"), Ok(2 << 30));
    assert_eq!(bytes("4096"), Ok(4096));
    for wrong in ["0", "G", "1.5G", "12T", "-1M", "99999999999999G"] {
        assert!(bytes(wrong).is_err(), "{wrong}");
    }
}

#[test]
fn global_options_may_follow_the_command() {
    let Ok(Parsed::Run(inv)) = parse_str("opt-dist rustc-pgo --src /t --keep-raw") else {
        panic!("should parse")
    };
    assert_eq!(inv.global.tree.src, Some(PathBuf::from("/t")));
    assert!(inv.options.keep_raw);
    assert!(matches!(inv.command, Command::Stage(StageId::RustcPgo)));
}

#[test]
fn unknown_option_is_named_with_the_command_help() {
    let Err(err) = parse_str("opt-dist rustc-pgo --frobnicate") else { panic!() };
    assert_eq!(err.message, "unknown option `--frobnicate` for `rustc-pgo`");
    assert!(err.help.contains("rustc-pgo [OPTIONS]"));
}

#[test]
fn unknown_command_is_named() {
    let Err(err) = parse_str("opt-dist frobnicate") else { panic!() };
    assert_eq!(err.message, "unknown command `frobnicate`");
}

#[test]
fn plan_takes_a_stage_and_a_format() {
    let Ok(Parsed::Run(inv)) = parse_str("opt-dist plan rustc-pgo --format sh") else { panic!() };
    assert!(matches!(
        inv.command,
        Command::Plan { target: Some(StageId::RustcPgo), format: PlanFormat::Sh }
    ));
}

#[test]
fn every_command_has_help() {
    for command in [
        "rustc-pgo",
        "llvm-pgo",
        "llvm-bolt",
        "rustc-bolt",
        "dist",
        "test",
        "all",
        "plan",
        "status",
        "clean",
        "doctor",
    ] {
        let Ok(Parsed::Help(text)) = parse_str(&format!("opt-dist {command} --help")) else {
            panic!("{command} --help")
        };
        assert!(text.contains(command), "{command}: {text}");
    }
}

/// A value each option accepts, for trying every option on every command.
fn sample_value(value: Option<&str>) -> Option<&'static str> {
    match value? {
        "<true|false>" => Some("true"),
        "<text|sh|json>" => Some("json"),
        "<legacy|pgo-table>" => Some("legacy"),
        "<STAGE>" => Some("rustc-pgo"),
        "<PROFILE>" => Some("llvm-pgo"),
        "<streamed|per-process|pooled>" => Some("pooled"),
        "<SIZE>" => Some("64M"),
        "<N>" => Some("4"),
        _ => Some("some-value"),
    }
}

#[test]
fn version_is_printed_without_a_command() {
    let Ok(Parsed::Help(text)) = parse_str("opt-dist --version") else { panic!("--version") };
    assert_eq!(text.trim(), format!("cargo xtask opt-dist {}", env!("CARGO_PKG_VERSION")));
    assert!(top_help().contains("--version"));
}

#[test]
fn every_command_accepts_exactly_the_options_its_help_lists() {
    for command in commands() {
        let Ok(Parsed::Help(help)) = parse_str(&format!("opt-dist {} --help", command.name)) else {
            panic!("{} --help", command.name)
        };
        for (name, takes) in OPTIONS.iter().map(Opt::parts) {
            let operand = match command.name {
                "export" | "import" => " some-dir",
                _ => "",
            };
            let mut line = format!("opt-dist {}{operand} {name}", command.name);
            if let Some(value) = sample_value(takes) {
                line = format!("{line} {value}");
            }
            let accepted = parse_str(&line).is_ok();
            let listed = help.lines().any(|l| l.split_whitespace().next() == Some(name));
            assert_eq!(
                accepted, listed,
                "`{line}`: accepted {accepted}, listed in its help {listed}:\n{help}"
            );
        }
    }
}

#[test]
fn equals_sign_repeats_and_empty_values_are_named() {
    let Ok(Parsed::Run(inv)) = parse_str("opt-dist rustc-pgo --use-bolt=false") else {
        panic!("--use-bolt=false should parse")
    };
    assert_eq!(inv.options.use_bolt, Some(false));
    assert_eq!(
        refusal("opt-dist rustc-pgo --use-bolt true --use-bolt false"),
        "`--use-bolt` is given 2 times; give it once"
    );
    assert_eq!(
        refusal("opt-dist rustc-pgo --keep-raw=yes"),
        "`--keep-raw` is a flag and takes no value (`--keep-raw=yes`)"
    );
    assert_eq!(refusal("opt-dist doctor --format json"), "`--format` is not an option of `doctor`");
    let empty = parse(vec!["opt-dist".into(), "--build-dir".into(), "".into()]);
    assert!(
        matches!(&empty, Err(e) if e.message == "`--build-dir` needs a value, not an empty string"),
        "{empty:?}"
    );
}

#[test]
fn relative_paths_are_made_absolute_once() {
    let Ok(Parsed::Run(inv)) = parse_str(
        "opt-dist --src tree --python bin/python3 rustc-pgo --benchmark-cargo-config c.toml",
    ) else {
        panic!()
    };
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(inv.global.tree.src, Some(cwd.join("tree")));
    assert_eq!(inv.global.tree.python, Some(cwd.join("bin/python3").display().to_string()));
    assert_eq!(inv.options.benchmark_cargo_config, [cwd.join("c.toml")]);
}

#[test]
fn bad_bool_is_rejected() {
    let Err(err) = parse_str("opt-dist rustc-pgo --use-bolt maybe") else { panic!() };
    assert!(err.message.contains("`--use-bolt` takes true or false"), "{}", err.message);
}

#[test]
fn dist_args_only_where_they_go() {
    assert!(parse_str("opt-dist rustc-pgo -- --foo").is_err());
    assert!(parse_str("opt-dist test -- --foo").is_err());
    let Ok(Parsed::Run(inv)) = parse_str("opt-dist plan -- dist --foo") else { panic!() };
    assert_eq!(inv.dist_args, ["dist", "--foo"]);
}

/// Every help page, top level first.
fn every_help() -> Vec<String> {
    let mut pages = vec![top_help()];
    pages.extend(commands().iter().map(CommandDef::help));
    pages
}

#[test]
fn every_option_line_is_name_value_then_help() {
    for help in every_help() {
        for line in help.lines().filter(|l| l.starts_with("    --")) {
            let left = line.strip_prefix("    ").expect(line);
            let (spec, text) = left.split_once("   ").expect(line);
            let (name, value) = spec.split_once(' ').unwrap_or((spec, ""));
            assert!(option(name).is_some(), "{line}");
            assert!(value.is_empty() || value.starts_with('<') && value.ends_with('>'), "{line}");
            assert!(!text.trim().is_empty(), "the help is on the option's line: {line}");
        }
    }
}

#[test]
fn reference_lists_every_option_of_every_command() {
    let reference = reference_markdown();
    for command in commands() {
        assert!(reference.contains(&format!("## `{}`", command.name)));
        for opt in command.options().chain(globals()) {
            assert!(reference.contains(&format!("- `{}`: ", opt.spec)), "{}", opt.spec);
        }
    }
}

#[test]
fn enum_values_are_named_as_the_help_names_them() {
    assert_eq!(
        refusal("opt-dist plan --format yaml"),
        "`--format` takes text or sh or json, not `yaml`"
    );
    assert_eq!(
        refusal("opt-dist --interface new rustc-pgo"),
        "`--interface` takes legacy or pgo-table, not `new`"
    );
    assert_eq!(
        refusal("opt-dist all --from rustc"),
        "`--from` takes one of rustc-pgo, llvm-pgo, llvm-bolt, rustc-bolt, dist, test, \
         not `rustc`"
    );
    assert_eq!(
        refusal("opt-dist plan rustc"),
        "unknown stage `rustc`: all or one of rustc-pgo, llvm-pgo, llvm-bolt, rustc-bolt, \
         dist, test"
    );
    assert_eq!(
        refusal("opt-dist rustc-pgo --training-jobs 0"),
        "`--training-jobs` takes a number of at least 1, not `0`"
    );
    assert_eq!(refusal("opt-dist plan --frob"), "unknown option `--frob` for `plan`");
    assert_eq!(refusal("opt-dist export"), "missing <DIR>");
    assert_eq!(refusal("opt-dist doctor x"), "unexpected argument `x` for `doctor`");
    assert_eq!(refusal("opt-dist clean a b"), "unexpected argument `b` for `clean`");
    assert_eq!(
        refusal("opt-dist --keep-raw rustc-pgo"),
        "`--keep-raw` is not an option of `opt-dist`"
    );
    assert_eq!(
        refusal("opt-dist --wait=1 all"),
        "`--wait` is a flag and takes no value (`--wait=1`)"
    );
    let Ok(Parsed::Run(inv)) = parse_str("opt-dist export out --stage=dist --stage llvm-pgo")
    else {
        panic!("--stage is repeatable")
    };
    assert!(matches!(inv.command, Command::Export { ref stages, .. } if stages.len() == 2));
}

#[test]
fn help_wins_over_mistakes_after_the_command_and_version_needs_opt_dist() {
    assert!(matches!(parse_str("opt-dist rustc-pgo --frob --help"), Ok(Parsed::Help(_))));
    assert!(matches!(parse_str("--help"), Ok(Parsed::Help(_))));
    assert!(matches!(parse_str("opt-dist -V"), Ok(Parsed::Help(_))));
    assert!(parse_str("--version").is_err());
    assert!(parse_str("cargo opt-dist").is_err());
}

/// Repeatability is read from the help ("(repeatable"): a rewording must not change it.
#[test]
fn exactly_the_options_whose_help_says_so_repeat() {
    let repeatable: Vec<&str> =
        OPTIONS.iter().filter(|o| o.help.contains("(repeatable")).map(|o| o.parts().0).collect();
    assert_eq!(repeatable, ["--stage", "--benchmark-cargo-config", "--skipped-tests"]);
    let line = "opt-dist rustc-pgo --skipped-tests a --skipped-tests=b \
                --benchmark-cargo-config /a --benchmark-cargo-config /b";
    let Ok(Parsed::Run(inv)) = parse_str(line) else { panic!("{line}") };
    assert_eq!(inv.options.skipped_tests, ["a", "b"]);
    assert_eq!(inv.options.benchmark_cargo_config.len(), 2);
    assert!(parse_str("opt-dist rustc-pgo --host a --host b").is_err());
}
