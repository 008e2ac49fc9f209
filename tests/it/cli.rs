//! The `portal` binary itself: `user add` with a link and with a password from stdin.

use std::io::Write;
use std::process::Stdio;

use crate::support::PASSWORD;
use crate::support::process::command as portal;

#[test]
fn user_add_prints_and_emails_a_one_time_link() {
    let dir = tempfile::tempdir().unwrap();
    let output = portal(dir.path())
        .args([
            "user",
            "add",
            "--profile",
            "sec",
            "--rut",
            "12.345.678-5",
            "--email",
            "Admin@SEC.cl",
        ])
        .args(["--names", "Ana", "--surnames", "Pérez Soto"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Created SEC account"), "{stdout}");
    let link = stdout
        .lines()
        .find(|l| l.starts_with("https://portal.example.cl/clave/"))
        .expect("a link");
    let mail_dir = dir.path().join("mail");
    let emails: Vec<String> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(emails.len(), 1, "sent right away as an .eml file");
    assert!(emails[0].contains("To: admin@sec.cl"));
    let token = link.rsplit('/').next().unwrap();
    // Quoted-printable may fold the long link; its token must still be there unbroken or folded.
    let unfolded = emails[0].replace("=\r\n", "").replace("=\n", "");
    assert!(unfolded.contains(token), "{unfolded}");

    // A second account with the same profile and RUT is refused.
    let again = portal(dir.path())
        .args([
            "user",
            "add",
            "--profile",
            "sec",
            "--rut",
            "12345678-5",
            "--email",
            "otro@sec.cl",
        ])
        .args(["--names", "Otra", "--surnames", "Persona"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[test]
fn user_add_with_password_stdin_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = portal(dir.path())
        .args([
            "user",
            "add",
            "--profile",
            "distribuidora",
            "--distributor",
            "EN",
            "--rut",
            "9.876.543-3",
        ])
        .args([
            "--email",
            "op@enel.example",
            "--names",
            "Pedro",
            "--surnames",
            "Lagos",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("/clave/"),
        "no link with a password"
    );

    let cases: [(&[&str], &str); 4] = [
        (&["--profile", "admin", "--rut", "1-9"], "--profile must be"),
        (&["--profile", "sec", "--rut", "1-8"], "dígito verificador"),
        (
            &["--profile", "distribuidora", "--rut", "1-9"],
            "--distributor",
        ),
        (
            &[
                "--profile",
                "distribuidora",
                "--distributor",
                "ZZ",
                "--rut",
                "1-9",
            ],
            "ZZ",
        ),
    ];
    for (arguments, expected) in cases {
        let output = portal(dir.path())
            .args(["user", "add"])
            .args(arguments)
            .args(["--email", "x@y.cl", "--names", "A", "--surnames", "B"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{arguments:?}: {stderr}"
        );
    }
}
