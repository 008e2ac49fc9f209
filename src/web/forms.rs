//! Per-field error messages for forms re-rendered with what the user typed.

use std::collections::BTreeMap;

#[derive(Default, Debug)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl ToString) {
        self.0.entry(field).or_insert_with(|| message.to_string());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// For the summary at the top of the form: (field id, message).
    pub fn all(&self) -> Vec<(&'static str, &str)> {
        self.0
            .iter()
            .map(|(field, message)| (*field, message.as_str()))
            .collect()
    }
}
