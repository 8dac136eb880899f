//! Where a statement's operators and function calls stand in the query text, by name. An error
//! raised while the query runs names what failed (`mv-expand: ...`, `range(): ...`) but has no
//! place of its own; `PlannedQuery::place_of` finds it here, so that the caret points at the
//! operator or call rather than at the start of the statement.

use std::cell::{Cell, RefCell};

use kql_grammar::ast::Span;

/// An operator (by its keyword) or a function call (by the function's name) and its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub name: String,
    pub span: Span,
}

/// The places of one statement.
#[derive(Clone, Debug, Default)]
pub struct Places(Vec<Place>);

impl Places {
    /// The place `message` names at its start (`name: ...` for an operator, `name(): ...` for
    /// a function), when the statement has exactly one place of that name: of two `range()`
    /// calls, which one failed is not known, and no caret is better than a wrong one.
    pub fn named_by(&self, message: &str) -> Option<Span> {
        let mut spans = self.0.iter().filter(|p| names(message, &p.name)).map(|p| p.span);
        let first = spans.next()?;
        // The same place may be planned twice (a `let`-bound table read twice).
        spans.all(|s| s == first).then_some(first)
    }
}

fn names(message: &str, name: &str) -> bool {
    message.strip_prefix(name).is_some_and(|rest| rest.starts_with(": ") || rest.starts_with("(): "))
}

/// What the planner records while it plans a statement.
#[derive(Default)]
pub struct PlaceRecorder {
    places: RefCell<Vec<Place>>,
    /// How many function bodies deep planning is: a body's spans are in its own text (a
    /// functions file), or, for a function the query defines, not where the query calls it, so
    /// nothing in a body is recorded.
    in_function: Cell<usize>,
}

impl PlaceRecorder {
    pub fn record(&self, name: &str, span: Span) {
        if self.in_function.get() == 0 {
            self.places.borrow_mut().push(Place { name: name.to_string(), span });
        }
    }

    /// Stops recording until the guard is dropped, for the planning of a function's body.
    pub fn inside_function(&self) -> InsideFunction<'_> {
        self.in_function.set(self.in_function.get() + 1);
        InsideFunction(self)
    }

    /// The places recorded since the last call.
    pub fn take(&self) -> Places {
        Places(std::mem::take(&mut *self.places.borrow_mut()))
    }
}

pub struct InsideFunction<'a>(&'a PlaceRecorder);

impl Drop for InsideFunction<'_> {
    fn drop(&mut self) {
        self.0.in_function.set(self.0.in_function.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_names_the_one_place_of_its_name() {
        let recorder = PlaceRecorder::default();
        recorder.record("mv-expand", Span::new(30, 45));
        recorder.record("range", Span::new(10, 25));
        {
            let _body = recorder.inside_function();
            recorder.record("range", Span::new(3, 9));
        }
        recorder.record("strlen", Span::new(50, 60));
        recorder.record("strlen", Span::new(70, 80));
        let places = recorder.take();
        assert_eq!(places.named_by("mv-expand: the rows it makes ..."), Some(Span::new(30, 45)));
        assert_eq!(places.named_by("range(): its values ..."), Some(Span::new(10, 25)));
        assert_eq!(places.named_by("strlen(): two calls"), None);
        assert_eq!(places.named_by("ranges: not a name"), None);
        assert_eq!(places.named_by("the query needs more memory"), None);
        assert!(recorder.take().named_by("range(): gone").is_none());
    }
}
