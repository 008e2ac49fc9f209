//! The three kinds of account (perfiles) and the two regulator roles.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    Applicant,
    Distributor,
    Regulator,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Applicant, Profile::Distributor, Profile::Regulator];

    /// The value stored in the database and sent by the login form.
    pub fn code(self) -> &'static str {
        match self {
            Profile::Applicant => "applicant",
            Profile::Distributor => "distributor",
            Profile::Regulator => "regulator",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|profile| profile.code() == code)
    }

    /// The manual's label.
    pub fn label(self) -> &'static str {
        match self {
            Profile::Applicant => "Solicitante",
            Profile::Distributor => "Distribuidora",
            Profile::Regulator => "SEC",
        }
    }

    /// The label shown in the profile summary ("Tipo de perfil").
    pub fn account_label(self) -> &'static str {
        match self {
            Profile::Applicant => "Usuario Solicitante",
            Profile::Distributor => "Usuario Distribuidora",
            Profile::Regulator => "Usuario SEC",
        }
    }

    /// The command-line spelling, in Spanish like the UI.
    pub fn from_cli(name: &str) -> Option<Self> {
        match name {
            "solicitante" => Some(Profile::Applicant),
            "distribuidora" => Some(Profile::Distributor),
            "sec" => Some(Profile::Regulator),
            _ => None,
        }
    }

    /// Where this profile lands after logging in.
    pub fn home_path(self) -> &'static str {
        match self {
            Profile::Applicant => "/solicitante",
            Profile::Distributor => "/distribuidora",
            Profile::Regulator => "/sec",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Regulator staff are administrators (everything) or auditors (read and export only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegulatorRole {
    Administrator,
    Auditor,
}

impl RegulatorRole {
    pub fn code(self) -> &'static str {
        match self {
            RegulatorRole::Administrator => "administrador",
            RegulatorRole::Auditor => "auditor",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "administrador" => Some(RegulatorRole::Administrator),
            "auditor" => Some(RegulatorRole::Auditor),
            _ => None,
        }
    }
}

/// Account life cycle: self-registered applicants wait for e-mail activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    PendingActivation,
    Active,
    Disabled,
}

impl AccountStatus {
    pub fn code(self) -> &'static str {
        match self {
            AccountStatus::PendingActivation => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Disabled => "disabled",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "pending" => Some(AccountStatus::PendingActivation),
            "active" => Some(AccountStatus::Active),
            "disabled" => Some(AccountStatus::Disabled),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AccountStatus::PendingActivation => "Pendiente de activación",
            AccountStatus::Active => "Activa",
            AccountStatus::Disabled => "Deshabilitada",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for profile in Profile::ALL {
            assert_eq!(Profile::from_code(profile.code()), Some(profile));
        }
        assert_eq!(Profile::from_code("sec"), None);
        assert_eq!(Profile::from_cli("sec"), Some(Profile::Regulator));
        for status in [
            AccountStatus::PendingActivation,
            AccountStatus::Active,
            AccountStatus::Disabled,
        ] {
            assert_eq!(AccountStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(
            RegulatorRole::from_code("auditor"),
            Some(RegulatorRole::Auditor)
        );
    }
}
