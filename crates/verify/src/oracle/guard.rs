//! A boundary around tract: its TensorFlow front end unwraps on malformed attributes (an
//! integer attribute that does not fit its type, an unknown enum) and its optimiser asserts.
//! On hostile graphs those are panics inside a dependency; here they become errors, silently
//! (no panic message on stderr), so tf2h5 still ends with its one-line error and exit code 2.
//! Panics anywhere else keep the default hook and remain bugs.

use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::sync::Once;

use tract_tensorflow::tract_hir::internal::*;

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if INSIDE.with(Cell::get) {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown failure".into());
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file().rsplit('/').next().unwrap_or(""), l.line()))
                    .unwrap_or_default();
                LAST.with(|last| *last.borrow_mut() = Some(format!("{message}{at}")));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `f` (a call into tract); a panic inside becomes an error.
pub fn contained<T>(f: impl FnOnce() -> TractResult<T>) -> TractResult<T> {
    install_hook();
    let outer = INSIDE.with(|inside| inside.replace(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    INSIDE.with(|inside| inside.set(outer));
    match result {
        Ok(result) => result,
        Err(_) => {
            let what = LAST.with(|last| last.borrow_mut().take()).unwrap_or_default();
            bail!("tract failed internally on this graph ({what}); the graph is malformed or uses a form tract does not handle")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors() {
        let err = contained::<()>(|| {
            let empty: Vec<u8> = Vec::new();
            let _ = empty[std::hint::black_box(0)];
            Ok(())
        })
        .unwrap_err();
        assert!(format!("{err}").contains("tract failed internally"), "{err}");
        assert_eq!(contained(|| Ok(3)).unwrap(), 3);
    }
}
