//! ErrorResponse and NoticeResponse: typed `(code, value)` fields such as severity and SQLSTATE.

use std::str;

use crate::message::reader::Reader;
use crate::Error;

/// The fields of an ErrorResponse or NoticeResponse, in the order the server sent them.
///
/// Created by the views after checking every field, so iteration cannot fail.
#[derive(Debug, Clone)]
pub struct ErrorFields<'a> {
    /// The checked fields not yet returned, without the final terminating NUL.
    rest: &'a [u8],
}

/// One field of an ErrorResponse or NoticeResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorField<'a> {
    /// The field type byte: `b'S'` severity, `b'C'` SQLSTATE code, `b'M'` message, ...
    pub field_type: u8,
    /// The field's text.
    pub value: &'a str,
}

impl<'a> ErrorFields<'a> {
    /// Reads and checks fields up to the terminating NUL, which must end the body.
    fn read(body: &'a [u8], message: &'static str) -> Result<ErrorFields<'a>, Error> {
        let mut r = Reader::new(body, message);
        let start = r.clone();
        loop {
            let mark = r.clone();
            if r.u8("field type")? == 0 {
                r.finish()?;
                return Ok(ErrorFields {
                    rest: mark.consumed_since(&start),
                });
            }
            r.cstr("field value")?;
        }
    }

    /// The value of the first field of type `field_type`.
    pub fn get(&self, field_type: u8) -> Option<&'a str> {
        self.clone()
            .find(|field| field.field_type == field_type)
            .map(|field| field.value)
    }
}

impl<'a> Iterator for ErrorFields<'a> {
    type Item = ErrorField<'a>;

    fn next(&mut self) -> Option<ErrorField<'a>> {
        let (&field_type, tail) = self.rest.split_first()?;
        let end = memchr::memchr(0, tail)?;
        let (value, tail) = tail.split_at(end);
        self.rest = tail.get(1..).unwrap_or_default();
        let value = str::from_utf8(value).ok()?;
        Some(ErrorField { field_type, value })
    }
}

/// Defines a view over a fields body with the convenience accessors.
macro_rules! fields_view {
    ($(#[$doc:meta])* $name:ident, $message:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name<'a> {
            /// The checked fields.
            fields: ErrorFields<'a>,
        }

        impl<'a> $name<'a> {
            #[doc = concat!("Parses a ", $message, " body.")]
            pub fn parse(body: &'a [u8]) -> Result<$name<'a>, Error> {
                ErrorFields::read(body, $message).map(|fields| $name { fields })
            }

            /// All fields, in order.
            pub fn fields(&self) -> ErrorFields<'a> {
                self.fields.clone()
            }

            /// The value of the first field of type `field_type`.
            pub fn get(&self, field_type: u8) -> Option<&'a str> {
                self.fields.get(field_type)
            }

            /// Field `S`: the severity, possibly translated (`ERROR`, `FEHLER`, ...).
            pub fn severity(&self) -> Option<&'a str> {
                self.get(b'S')
            }

            /// Field `V`: the severity, never translated (PostgreSQL 9.6 and later).
            pub fn severity_nonlocalized(&self) -> Option<&'a str> {
                self.get(b'V')
            }

            /// Field `C`: the SQLSTATE code.
            pub fn code(&self) -> Option<&'a str> {
                self.get(b'C')
            }

            /// Field `M`: the primary message.
            pub fn message(&self) -> Option<&'a str> {
                self.get(b'M')
            }

            /// Field `D`: the detail message.
            pub fn detail(&self) -> Option<&'a str> {
                self.get(b'D')
            }

            /// Field `H`: the hint.
            pub fn hint(&self) -> Option<&'a str> {
                self.get(b'H')
            }

            /// Field `P`: the 1-based character position in the query string, as text.
            pub fn position(&self) -> Option<&'a str> {
                self.get(b'P')
            }
        }
    };
}

fields_view!(
    /// ErrorResponse (`'E'`): the current command failed.
    ErrorResponse,
    "ErrorResponse"
);

fields_view!(
    /// NoticeResponse (`'N'`): a warning or notice; the command goes on.
    NoticeResponse,
    "NoticeResponse"
);
