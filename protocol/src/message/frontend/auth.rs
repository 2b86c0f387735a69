//! The `'p'` messages answering an authentication request: password, SASL initial and later.

use crate::message::reader::Reader;
use crate::Error;

/// PasswordMessage (`'p'` after AuthenticationCleartextPassword or AuthenticationMD5Password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordMessage<'a> {
    /// The password or `md5...` hash, without its NUL.
    password: &'a [u8],
}

impl<'a> PasswordMessage<'a> {
    /// Parses a PasswordMessage body.
    pub fn parse(body: &'a [u8]) -> Result<PasswordMessage<'a>, Error> {
        let mut r = Reader::new(body, "PasswordMessage");
        let password = r.cstr_bytes("password")?;
        r.finish()?;
        Ok(PasswordMessage { password })
    }

    /// The cleartext password or the `md5` followed by 32 hex digits.
    ///
    /// Bytes, not text: PostgreSQL compares passwords as bytes in the client's encoding, and
    /// SCRAM's SASLprep passes non-UTF-8 passwords through unchanged, so rejecting them here
    /// would lock out users whose passwords the server accepts.
    pub fn password(&self) -> &'a [u8] {
        self.password
    }
}

/// SASLInitialResponse (`'p'` after AuthenticationSASL): the chosen mechanism and the client's
/// first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslInitialResponse<'a> {
    /// The mechanism chosen from the server's list, e.g. `SCRAM-SHA-256`.
    mechanism: &'a str,
    /// The client-first-message; `None` when the length field is -1.
    data: Option<&'a [u8]>,
}

impl<'a> SaslInitialResponse<'a> {
    /// Parses a SASLInitialResponse body.
    pub fn parse(body: &'a [u8]) -> Result<SaslInitialResponse<'a>, Error> {
        let mut r = Reader::new(body, "SASLInitialResponse");
        let mechanism = r.cstr("mechanism")?;
        let data = r.value("data")?;
        r.finish()?;
        Ok(SaslInitialResponse { mechanism, data })
    }

    /// The SASL mechanism's name.
    pub fn mechanism(&self) -> &'a str {
        self.mechanism
    }

    /// The mechanism's initial response; `None` if the client sent none.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.data
    }
}

/// SASLResponse (`'p'` after AuthenticationSASLContinue): a later SASL message.
///
/// GSSResponse has the same shape (the whole body is the token) and parses with this view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslResponse<'a> {
    /// The mechanism-specific message.
    data: &'a [u8],
}

impl<'a> SaslResponse<'a> {
    /// Parses a SASLResponse body; every body is valid.
    pub fn parse(body: &'a [u8]) -> Result<SaslResponse<'a>, Error> {
        Ok(SaslResponse { data: body })
    }

    /// The mechanism-specific message, e.g. SCRAM's client-final-message.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}
