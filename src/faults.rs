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
/// After a submission committed, before its response is sent.
pub const SUBMIT_AFTER_COMMIT: &str = "submit.after_commit";
/// After the file of a company's answer is stored, before its transaction commits.
pub const ANSWER_BEFORE_COMMIT: &str = "answer.before_commit";
/// After a company's answer committed, before its response is sent.
pub const ANSWER_AFTER_COMMIT: &str = "answer.after_commit";

/// The environment variable that names the point where the process dies (test builds only).
pub const CRASH_AT_VARIABLE: &str = "PORTAL_TEST_CRASH_AT";

/// Ends the process on the spot, as a power cut or `kill -9` would, when the test that started
/// it named this point in `PORTAL_TEST_CRASH_AT`. Nothing runs after it: no destructor, no
/// flush, no response. Without the `test-hooks` feature it is an empty inline function, so a
/// release build cannot be made to die through it.
#[inline(always)]
pub fn crash_point(point: &'static str) {
    #[cfg(feature = "test-hooks")]
    if std::env::var(CRASH_AT_VARIABLE).is_ok_and(|named| named == point) {
        eprintln!("test hook: crashing at {point}");
        std::process::abort();
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = point;
}
