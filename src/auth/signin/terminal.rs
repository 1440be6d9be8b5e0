//! The controlling terminal, for what a sign-in shows or asks that is not a secret: which
//! MFA factor to use, the enrolment URI and its QR code.
//!
//! Subtleties:
//! 1. It is `/dev/tty`, not standard input or error: those may be a pipe or a log file
//!    while a person still sits at the terminal (`--password-stdin`), and a daemon has
//!    none of them. No terminal means "no one to ask", and the caller says how else.
//! 2. Secrets (codes, passwords) are read by `secret::prompt_secret`, with echo off; what
//!    is read here is echoed, because it is not secret.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};

fn open() -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open("/dev/tty")
}

/// Writes `text` to the terminal.
pub(super) fn show(text: &str) -> io::Result<()> {
    let mut tty = open()?;
    tty.write_all(text.as_bytes())?;
    tty.flush()
}

/// Asks `prompt` and returns the line typed, trimmed.
pub(super) fn ask(prompt: &str) -> io::Result<String> {
    let mut tty = open()?;
    tty.write_all(prompt.as_bytes())?;
    tty.flush()?;
    let mut line = String::new();
    BufReader::new(tty).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}
