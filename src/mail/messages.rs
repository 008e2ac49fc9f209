//! The e-mails of the account life cycle, rendered from templates. Each function returns the
//! message ready for the outbox; the caller queues it in its own transaction.

use askama::Template;

use crate::store::outbox::OutgoingEmail;

#[derive(Template)]
#[template(path = "emails/activation.txt")]
struct Activation<'a> {
    name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/already_registered.txt")]
struct AlreadyRegistered<'a> {
    name: &'a str,
    login_link: &'a str,
    recovery_link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/password_reset.txt")]
struct PasswordReset<'a> {
    name: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/account_created.txt")]
struct AccountCreated<'a> {
    name: &'a str,
    profile: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/password_changed.txt")]
struct PasswordChanged<'a> {
    name: &'a str,
    recovery_link: &'a str,
}

fn email(to: &str, subject: &str, body: impl Template) -> anyhow::Result<OutgoingEmail> {
    Ok(OutgoingEmail {
        to: to.to_string(),
        subject: subject.to_string(),
        body: body.render()?,
    })
}

pub fn activation(to: &str, name: &str, link: &str) -> anyhow::Result<OutgoingEmail> {
    email(
        to,
        "Active su cuenta de Generación Ciudadana",
        Activation { name, link },
    )
}

pub fn already_registered(
    to: &str,
    name: &str,
    login_link: &str,
    recovery_link: &str,
) -> anyhow::Result<OutgoingEmail> {
    let body = AlreadyRegistered {
        name,
        login_link,
        recovery_link,
    };
    email(to, "Ya tiene una cuenta en Generación Ciudadana", body)
}

pub fn password_reset(to: &str, name: &str, link: &str) -> anyhow::Result<OutgoingEmail> {
    email(
        to,
        "Recuperación de contraseña - Generación Ciudadana",
        PasswordReset { name, link },
    )
}

pub fn account_created(
    to: &str,
    name: &str,
    profile: &str,
    link: &str,
) -> anyhow::Result<OutgoingEmail> {
    email(
        to,
        "Su cuenta de Generación Ciudadana",
        AccountCreated {
            name,
            profile,
            link,
        },
    )
}

pub fn password_changed(
    to: &str,
    name: &str,
    recovery_link: &str,
) -> anyhow::Result<OutgoingEmail> {
    email(
        to,
        "Su contraseña fue cambiada - Generación Ciudadana",
        PasswordChanged {
            name,
            recovery_link,
        },
    )
}
