//! The whole compiler pipeline on arbitrary bytes (read as lossy UTF-8):
//! never a panic, a table iff no error, spans inside the text and on char
//! boundaries; a policy that compiles is explained and evaluated too.
#![no_main]

#[path = "../../tests/robustness_common/exercise.rs"]
mod exercise;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise::exercise(&String::from_utf8_lossy(data));
});
