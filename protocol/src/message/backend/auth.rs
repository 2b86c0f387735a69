//! Authentication (`'R'`): the server's authentication requests and its final AuthenticationOk.

use crate::message::reader::Reader;
use crate::message::Strings;
use crate::Error;

/// The SASL mechanisms an AuthenticationSASL message offers, most preferred first.
pub type SaslMechanisms<'a> = Strings<'a>;

/// An Authentication message, by its request code.
///
/// corepool implements cleartext, md5 and SASL (SCRAM-SHA-256); the Kerberos, SCM, GSSAPI and
/// SSPI requests are decoded so the engine can refuse them by name.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Authentication<'a> {
    /// Code 0, AuthenticationOk: the client is authenticated.
    Ok,
    /// Code 2, AuthenticationKerberosV5 (unsupported since PostgreSQL 9.4).
    KerberosV5,
    /// Code 3, AuthenticationCleartextPassword.
    CleartextPassword,
    /// Code 5, AuthenticationMD5Password.
    Md5Password {
        /// The salt to hash the password with.
        salt: [u8; 4],
    },
    /// Code 6, AuthenticationSCMCredential (unsupported since PostgreSQL 9.1).
    ScmCredential,
    /// Code 7, AuthenticationGSS (unsupported by corepool).
    Gss,
    /// Code 8, AuthenticationGSSContinue (unsupported by corepool).
    GssContinue {
        /// The GSSAPI or SSPI token.
        data: &'a [u8],
    },
    /// Code 9, AuthenticationSSPI (unsupported by corepool).
    Sspi,
    /// Code 10, AuthenticationSASL: the mechanisms the server offers.
    Sasl(SaslMechanisms<'a>),
    /// Code 11, AuthenticationSASLContinue: e.g. SCRAM's server-first-message.
    SaslContinue {
        /// The mechanism-specific message.
        data: &'a [u8],
    },
    /// Code 12, AuthenticationSASLFinal: e.g. SCRAM's server-final-message.
    SaslFinal {
        /// The mechanism-specific outcome.
        data: &'a [u8],
    },
}

impl<'a> Authentication<'a> {
    /// Parses an Authentication body.
    pub fn parse(body: &'a [u8]) -> Result<Authentication<'a>, Error> {
        let mut r = Reader::new(body, "Authentication");
        let code = r.i32("code")?;
        let auth = match code {
            0 => Authentication::Ok,
            2 => Authentication::KerberosV5,
            3 => Authentication::CleartextPassword,
            5 => Authentication::Md5Password {
                salt: r.array("salt")?,
            },
            6 => Authentication::ScmCredential,
            7 => Authentication::Gss,
            8 => Authentication::GssContinue { data: r.rest() },
            9 => Authentication::Sspi,
            10 => Authentication::Sasl(read_mechanisms(&mut r)?),
            11 => Authentication::SaslContinue { data: r.rest() },
            12 => Authentication::SaslFinal { data: r.rest() },
            code => return Err(Error::UnknownAuthenticationCode { code }),
        };
        r.finish()?;
        Ok(auth)
    }

    /// The request code on the wire.
    pub fn code(&self) -> i32 {
        match self {
            Authentication::Ok => 0,
            Authentication::KerberosV5 => 2,
            Authentication::CleartextPassword => 3,
            Authentication::Md5Password { .. } => 5,
            Authentication::ScmCredential => 6,
            Authentication::Gss => 7,
            Authentication::GssContinue { .. } => 8,
            Authentication::Sspi => 9,
            Authentication::Sasl(_) => 10,
            Authentication::SaslContinue { .. } => 11,
            Authentication::SaslFinal { .. } => 12,
        }
    }
}

/// Reads the mechanism names, which end with an empty name.
fn read_mechanisms<'a>(r: &mut Reader<'a>) -> Result<SaslMechanisms<'a>, Error> {
    let start = r.clone();
    loop {
        let mark = r.clone();
        if r.cstr("mechanism")?.is_empty() {
            return Ok(Strings::new(mark.consumed_since(&start)));
        }
    }
}
