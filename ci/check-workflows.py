#!/usr/bin/env python3
"""Checks the CI templates against the xtask they drive.

A workflow runs for hours before it reaches its last job, so a command the xtask no longer has
(a renamed stage, a dropped option) would be found late and far from its cause. This parses the
workflows (YAML, with python3-yaml) and checks every `cargo xtask opt-dist ...` in their `run:`
steps against the xtask's own help: the command must be one `opt-dist --help` lists, and every
option one that the command's `--help` lists (its own or a global one).

Usage: ci/check-workflows.py [--xtask CMD] [WORKFLOW.yml ...]
  --xtask CMD  how to run the xtask (default: `cargo xtask`, from the repository root)
  WORKFLOW     default: every ci/github/*.yml
Exits 1 naming each unknown command or option, 2 when a file holds no opt-dist command at all
(nothing would have been checked).
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
INVOCATION = re.compile(r"\bcargo\s+xtask\s+opt-dist\b")
# Shell words that end a command.
SEPARATORS = {";", "&&", "||", "|", "&", ")", "(", "\n"}


def help_text(xtask, args):
    run = subprocess.run(
        xtask + ["opt-dist", *args, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        sys.exit(f"check-workflows: `{' '.join(xtask)} opt-dist {' '.join(args)} --help` failed:\n{run.stderr}")
    return run.stdout


def sections(text):
    """The help's sections (COMMANDS:, OPTIONS:, GLOBAL...:) as lists of their lines."""
    found, current = {}, None
    for line in text.splitlines():
        heading = line and not line[0].isspace() and line.rstrip().endswith(":")
        if heading or line.startswith("GLOBAL"):
            current = line.split()[0].rstrip(":")
            found[current] = []
        elif current and line.startswith("    ") and not line.startswith("     "):
            found[current].append(line.strip())
    return found


def options(lines):
    """Option name -> whether it takes a value, from lines such as `--src <DIR>   text`."""
    table = {}
    for line in lines:
        m = re.match(r"(?:-\w, )?(--[\w-]+)(\s+<[^>]*>)?", line)
        if m:
            table[m.group(1)] = m.group(2) is not None
    return table


class Xtask:
    def __init__(self, xtask):
        self.xtask = xtask
        top = sections(help_text(xtask, []))
        self.commands = [line.split()[0] for line in top["COMMANDS"]]
        self.globals = options(top["GLOBAL"])
        self._options = {}

    def options_of(self, command):
        if command not in self._options:
            found = sections(help_text(self.xtask, [command]))
            self._options[command] = {**options(found.get("OPTIONS", [])), **self.globals}
        return self._options[command]


def shell_commands(script):
    """Each `cargo xtask opt-dist` in a `run:` script, as its words after `opt-dist`."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        for match in INVOCATION.finditer(line):
            lexer = shlex.shlex(line[match.end():], posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            words = []
            for word in lexer:
                if word in SEPARATORS:
                    break
                words.append(word)
            yield words


def check(words, xtask):
    """The problems with one invocation, each a sentence."""
    problems = []
    i = 0

    def take_options(table, where):
        nonlocal i
        while i < len(words) and words[i].startswith("-") and words[i] != "--":
            name = words[i].split("=", 1)[0]
            if name not in table:
                problems.append(f"{where} has no option {name}")
            elif table[name] and "=" not in words[i]:
                i += 1  # its value
            i += 1

    take_options(xtask.globals, "opt-dist")
    if i == len(words):
        return problems + ["no command after `opt-dist`"]
    command = words[i]
    i += 1
    if command not in xtask.commands:
        return problems + [f"opt-dist has no command {command} (it has: {', '.join(xtask.commands)})"]
    table = xtask.options_of(command)
    while i < len(words) and words[i] != "--":
        if words[i].startswith("-"):
            take_options(table, f"opt-dist {command}")
        else:
            i += 1  # a positional argument: a directory, a stage
    return problems


def run_scripts(workflow):
    for job_name, job in (workflow.get("jobs") or {}).items():
        for n, step in enumerate(job.get("steps") or [], 1):
            if "run" in step:
                yield f"job {job_name}, step {n} ({step.get('name', 'unnamed')})", step["run"]


def main(argv):
    xtask = shlex.split("cargo xtask")
    if argv[:1] == ["--xtask"]:
        xtask, argv = shlex.split(argv[1]), argv[2:]
    files = [Path(f) for f in argv] or sorted((ROOT / "ci" / "github").glob("*.yml"))
    if not files:
        sys.exit("check-workflows: no workflow files found")
    xtask = Xtask(xtask)
    failed, checked = False, 0
    for path in files:
        workflow = yaml.safe_load(path.read_text())
        in_file = 0
        for where, script in run_scripts(workflow):
            for words in shell_commands(script):
                in_file += 1
                for problem in check(words, xtask):
                    failed = True
                    print(f"{path}: {where}: `opt-dist {' '.join(words)}`: {problem}", file=sys.stderr)
        if in_file == 0:
            print(f"{path}: no `cargo xtask opt-dist` command in any run: step", file=sys.stderr)
            sys.exit(2)
        checked += in_file
    if failed:
        sys.exit(1)
    print(f"check-workflows: {checked} opt-dist commands in {len(files)} workflows are the xtask's", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
