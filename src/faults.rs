//! Named points where a test can make an operation fail, to prove that a failure there loses
//! nothing acknowledged and leaves nothing half-done. Compiled only with the `test-hooks`
//! feature, which the test suite enables and release builds do not: without it, `check` is an
//! empty inline function.

#[cfg(feature = "test-hooks")]
mod enabled {
    use std::collections::HashSet;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Faults(Mutex<HashSet<&'static str>>);

    impl Faults {
        /// Makes every later `check(point)` fail until `clear`.
        pub fn arm(&self, point: &'static str) {
            self.0.lock().expect("faults lock").insert(point);
        }

        pub fn clear(&self) {
            self.0.lock().expect("faults lock").clear();
        }

        pub fn check(&self, point: &'static str) -> anyhow::Result<()> {
            if self.0.lock().expect("faults lock").contains(point) {
                anyhow::bail!("injected fault at {point}");
            }
            Ok(())
        }
    }
}

#[cfg(feature = "test-hooks")]
pub use enabled::Faults;

#[cfg(not(feature = "test-hooks"))]
#[derive(Default)]
pub struct Faults;

#[cfg(not(feature = "test-hooks"))]
impl Faults {
    #[inline(always)]
    pub fn check(&self, _point: &'static str) -> anyhow::Result<()> {
        Ok(())
    }
}

/// After the files of a submission are stored, before its transaction commits.
pub const SUBMIT_BEFORE_COMMIT: &str = "submit.before_commit";
