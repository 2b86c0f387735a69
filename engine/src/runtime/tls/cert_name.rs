//! The subject common name (CN) of an X.509 certificate, for pool_hba's `cert` method.
//!
//! A small DER walker rather than an X.509 crate: the certificate was already parsed and
//! verified by rustls, and only one field is needed. Every read is bounds-checked; anything
//! unexpected yields `None`.

/// DER tags the walk needs.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const EXPLICIT_0: u8 = 0xa0;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
/// id-at-commonName, 2.5.4.3.
const COMMON_NAME_OID: [u8; 3] = [0x55, 0x04, 0x03];

/// The first commonName of the certificate's subject, when it is a UTF8String, PrintableString
/// or IA5String without NUL bytes (PostgreSQL refuses those too).
pub fn common_name(cert_der: &[u8]) -> Option<&str> {
    let cert = Der(cert_der).expect(SEQUENCE)?;
    let mut tbs = Der(Der(cert).expect(SEQUENCE)?);
    let (mut tag, _) = tbs.next()?;
    if tag == EXPLICIT_0 {
        // version [0] EXPLICIT, then the serial number
        (tag, _) = tbs.next()?;
    }
    if tag != INTEGER {
        return None;
    }
    tbs.expect(SEQUENCE)?; // signature algorithm
    tbs.expect(SEQUENCE)?; // issuer
    tbs.expect(SEQUENCE)?; // validity
    let mut subject = Der(tbs.expect(SEQUENCE)?);
    while !subject.0.is_empty() {
        let mut rdn = Der(subject.expect(SET)?);
        while !rdn.0.is_empty() {
            let mut attribute = Der(rdn.expect(SEQUENCE)?);
            if attribute.expect(OID)? != COMMON_NAME_OID {
                continue;
            }
            let (tag, value) = attribute.next()?;
            return match tag {
                UTF8_STRING | PRINTABLE_STRING | IA5_STRING => std::str::from_utf8(value)
                    .ok()
                    .filter(|s| !s.contains('\0')),
                _ => None,
            };
        }
    }
    None
}

/// The unread rest of a DER encoding.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// Reads one element: its tag and contents. Only low tag numbers and definite lengths of
    /// up to four bytes, as certificates use.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
        };
        if rest.len() < len {
            return None;
        }
        let (value, after) = rest.split_at(len);
        self.0 = after;
        Some((tag, value))
    }

    /// Reads one element that must have tag `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, value) if t == tag => Some(value),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(subject: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in subject {
            params.distinguished_name.push(t.clone(), *v);
        }
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn finds_the_common_name_among_other_attributes() {
        let der = cert_with(&[
            (rcgen::DnType::CountryName, "JP"),
            (rcgen::DnType::OrganizationName, "corepool"),
            (rcgen::DnType::CommonName, "app_user"),
        ]);
        assert_eq!(common_name(&der), Some("app_user"));
    }

    #[test]
    fn utf8_names_are_kept() {
        let der = cert_with(&[(rcgen::DnType::CommonName, "ユーザー")]);
        assert_eq!(common_name(&der), Some("ユーザー"));
    }

    #[test]
    fn no_common_name_is_none() {
        let der = cert_with(&[(rcgen::DnType::OrganizationName, "corepool")]);
        assert_eq!(common_name(&der), None);
    }

    #[test]
    fn truncated_or_garbage_input_is_none_never_a_panic() {
        let der = cert_with(&[(rcgen::DnType::CommonName, "app")]);
        for cut in 0..der.len() {
            let _ = common_name(&der[..cut]);
        }
        assert_eq!(common_name(&[]), None);
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(common_name(&[0x30, 0x80, 0x00, 0x00]), None);
        assert_eq!(common_name(&[0x1f, 0x01, 0x00]), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = common_name(&bytes);
        }
    }
}
