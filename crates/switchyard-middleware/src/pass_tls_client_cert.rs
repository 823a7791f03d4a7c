//! `passTLSClientCert`: hands the client's TLS certificate chain to the backend, whole
//! (`X-Forwarded-Tls-Client-Cert`: each certificate's base64 DER, comma-separated) and/or as selected
//! fields (`X-Forwarded-Tls-Client-Cert-Info`: `Subject="C=FR,CN=..."`, `Issuer=...`,
//! `SerialNumber=...`, `NB`, `NA`, `SAN`, `;` between fields, `,` between certificates, URL-escaped),
//! formatted as Traefik formats them.
//!
//! The certificates come from the [`PeerCertificates`] request extension, which a TLS entrypoint sets
//! when the client presented a certificate. Without one, nothing is added; values a client sent itself
//! in these headers never get this far, since the entrypoint drops them from untrusted peers.

use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use http::{HeaderName, HeaderValue, Request, Response};
use switchyard_config::{CertificateIssuerInfo, CertificateSubjectInfo, ClientCertificateInfo, PassTlsClientCert};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

use crate::layers::builtin_layer;
use crate::stack::{OnRequest, on_request};
use crate::{BuildContext, MiddlewareError, MiddlewareLayer, RequestBody, ResponseBody};

const CERT: HeaderName = HeaderName::from_static("x-forwarded-tls-client-cert");
const CERT_INFO: HeaderName = HeaderName::from_static("x-forwarded-tls-client-cert-info");

/// The certificate chain a client presented over TLS, leaf first, each certificate in DER: a request
/// extension set by TLS entrypoints, read by `passTLSClientCert`.
///
/// ```
/// use switchyard_middleware::PeerCertificates;
///
/// let chain = PeerCertificates::new([vec![0x30, 0x82]]);
/// assert_eq!(chain.iter().count(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificates(Arc<[Vec<u8>]>);

impl PeerCertificates {
    /// A chain of DER certificates, leaf first.
    pub fn new(chain: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Self(chain.into_iter().collect())
    }

    /// The certificates, leaf first.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(Vec::as_slice)
    }
}

/// Which distinguished-name parts to pass, in Traefik's order.
#[derive(Debug, Clone, Copy, Default)]
struct NameParts {
    domain_component: bool,
    country: bool,
    province: bool,
    locality: bool,
    organization: bool,
    organizational_unit: bool,
    serial_number: bool,
    common_name: bool,
}

impl From<&CertificateSubjectInfo> for NameParts {
    fn from(s: &CertificateSubjectInfo) -> Self {
        Self {
            domain_component: s.domain_component,
            country: s.country,
            province: s.province,
            locality: s.locality,
            organization: s.organization,
            organizational_unit: s.organizational_unit,
            serial_number: s.serial_number,
            common_name: s.common_name,
        }
    }
}

impl From<&CertificateIssuerInfo> for NameParts {
    fn from(s: &CertificateIssuerInfo) -> Self {
        Self {
            domain_component: s.domain_component,
            country: s.country,
            province: s.province,
            locality: s.locality,
            organization: s.organization,
            organizational_unit: false,
            serial_number: s.serial_number,
            common_name: s.common_name,
        }
    }
}

struct Info {
    subject: Option<NameParts>,
    issuer: Option<NameParts>,
    serial_number: bool,
    not_before: bool,
    not_after: bool,
    sans: bool,
}

impl From<&ClientCertificateInfo> for Info {
    fn from(info: &ClientCertificateInfo) -> Self {
        Self {
            subject: info.subject.as_ref().map(NameParts::from),
            issuer: info.issuer.as_ref().map(NameParts::from),
            serial_number: info.serial_number,
            not_before: info.not_before,
            not_after: info.not_after,
            sans: info.sans,
        }
    }
}

/// OIDs of the name attributes, as dotted strings.
const OID_DC: &str = "0.9.2342.19200300.100.1.25";
const OID_C: &str = "2.5.4.6";
const OID_ST: &str = "2.5.4.8";
const OID_L: &str = "2.5.4.7";
const OID_O: &str = "2.5.4.10";
const OID_OU: &str = "2.5.4.11";
const OID_SN: &str = "2.5.4.5";
const OID_CN: &str = "2.5.4.3";

/// A name's attribute values for `oid`, in order.
fn values(name: &X509Name<'_>, oid: &str) -> Vec<String> {
    name.iter_attributes()
        .filter(|a| a.attr_type().to_id_string() == oid)
        .filter_map(|a| a.as_str().ok().map(str::to_owned))
        .collect()
}

/// `K=V,` parts as Go's `pkix.Name` yields them; serialNumber and CN are single values (the last one).
fn name_parts(name: &X509Name<'_>, parts: NameParts) -> String {
    let mut out = String::new();
    let mut many = |on: bool, oid: &str, key: &str| {
        if on {
            for value in values(name, oid).iter().filter(|v| !v.is_empty()) {
                let _ = write!(out, "{key}={value},");
            }
        }
    };
    many(parts.domain_component, OID_DC, "DC");
    many(parts.country, OID_C, "C");
    many(parts.province, OID_ST, "ST");
    many(parts.locality, OID_L, "L");
    many(parts.organization, OID_O, "O");
    many(parts.organizational_unit, OID_OU, "OU");
    let mut single = |on: bool, oid: &str, key: &str| {
        if let Some(value) = on.then(|| values(name, oid).pop()).flatten().filter(|v| !v.is_empty()) {
            let _ = write!(out, "{key}={value},");
        }
    };
    single(parts.serial_number, OID_SN, "SN");
    single(parts.common_name, OID_CN, "CN");
    out.truncate(out.trim_end_matches(',').len());
    out
}

/// The subject alternative names in Go's order: DNS names, e-mail addresses, IPs, URIs.
fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(extension)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    let names = &extension.value.general_names;
    let mut out = Vec::new();
    out.extend(names.iter().filter_map(dns_name));
    out.extend(names.iter().filter_map(email_address));
    out.extend(names.iter().filter_map(ip_address));
    out.extend(names.iter().filter_map(uri));
    out
}

fn dns_name(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::DNSName(d) => Some((*d).to_owned()),
        _ => None,
    }
}

fn email_address(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::RFC822Name(e) => Some((*e).to_owned()),
        _ => None,
    }
}

fn ip_address(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string()),
            16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn uri(name: &GeneralName<'_>) -> Option<String> {
    match name {
        GeneralName::URI(u) => Some((*u).to_owned()),
        _ => None,
    }
}

impl Info {
    fn describe(&self, der: &[u8]) -> String {
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return String::new();
        };
        let mut fields = Vec::new();
        self.push_names(&cert, &mut fields);
        self.push_details(&cert, &mut fields);
        fields.join(";")
    }

    /// The subject's and the issuer's parts asked for, when there are any.
    fn push_names(&self, cert: &X509Certificate<'_>, fields: &mut Vec<String>) {
        if let Some(subject) = self
            .subject
            .map(|p| name_parts(cert.subject(), p))
            .filter(|s| !s.is_empty())
        {
            fields.push(format!("Subject=\"{subject}\""));
        }
        if let Some(issuer) = self
            .issuer
            .map(|p| name_parts(cert.issuer(), p))
            .filter(|s| !s.is_empty())
        {
            fields.push(format!("Issuer=\"{issuer}\""));
        }
    }

    /// The serial number, validity dates and subject alternative names asked for.
    fn push_details(&self, cert: &X509Certificate<'_>, fields: &mut Vec<String>) {
        if self.serial_number {
            fields.push(format!("SerialNumber=\"{}\"", cert.serial));
        }
        if self.not_before {
            fields.push(format!("NB=\"{}\"", cert.validity().not_before.timestamp()));
        }
        if self.not_after {
            fields.push(format!("NA=\"{}\"", cert.validity().not_after.timestamp()));
        }
        if self.sans {
            let sans = sans(cert);
            if !sans.is_empty() {
                fields.push(format!("SAN=\"{}\"", sans.join(",")));
            }
        }
    }
}

struct PassCert {
    pem: bool,
    info: Option<Info>,
}

impl OnRequest for PassCert {
    fn on_request(&self, req: &mut Request<RequestBody>) -> Result<(), Response<ResponseBody>> {
        let Some(chain) = req.extensions().get::<PeerCertificates>().cloned() else {
            return Ok(());
        };
        if chain.0.is_empty() {
            return Ok(());
        }
        if self.pem {
            let engine = base64::engine::general_purpose::STANDARD;
            let value = chain.iter().map(|der| engine.encode(der)).collect::<Vec<_>>().join(",");
            if let Ok(value) = HeaderValue::from_str(&value) {
                req.headers_mut().insert(CERT, value);
            }
        }
        if let Some(info) = &self.info {
            let value = chain.iter().map(|der| info.describe(der)).collect::<Vec<_>>().join(",");
            if let Ok(value) = HeaderValue::from_str(&crate::query_escape(&value)) {
                req.headers_mut().insert(CERT_INFO, value);
            }
        }
        Ok(())
    }
}

pub(crate) fn pass_tls_client_cert(
    config: &PassTlsClientCert,
    _ctx: &BuildContext<'_>,
) -> Result<MiddlewareLayer, MiddlewareError> {
    Ok(on_request(PassCert {
        pem: config.pem,
        info: config.info.as_ref().map(Info::from),
    }))
}

builtin_layer! {
    /// `passTLSClientCert` as a tower layer: passes the client's certificate (the [`PeerCertificates`]
    /// request extension) to the backend in `X-Forwarded-Tls-Client-Cert` (`pem`) and
    /// `X-Forwarded-Tls-Client-Cert-Info` (`info`).
    ///
    /// ```
    /// use switchyard_config::PassTlsClientCert;
    /// use switchyard_middleware::layers::PassTlsClientCertLayer;
    ///
    /// let layer = PassTlsClientCertLayer::new(PassTlsClientCert { pem: true, ..Default::default() }).unwrap();
    /// # let _ = layer;
    /// ```
    PassTlsClientCertLayer(PassTlsClientCert => |config| {
        pass_tls_client_cert(config, &BuildContext::new("passTLSClientCert"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../tests/data/client-cert.pem");

    fn der() -> Vec<u8> {
        let body: String = PEM.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD.decode(body).unwrap()
    }

    fn run(step: &PassCert, chain: Option<PeerCertificates>) -> http::HeaderMap {
        let mut req = Request::new(RequestBody::empty());
        if let Some(chain) = chain {
            req.extensions_mut().insert(chain);
        }
        step.on_request(&mut req).unwrap();
        req.headers().clone()
    }

    #[test]
    fn pem_is_the_base64_der_of_each_certificate() {
        let step = PassCert { pem: true, info: None };
        let headers = run(&step, Some(PeerCertificates::new([der(), der()])));
        let body: String = PEM.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(headers[CERT], format!("{body},{body}").as_str());
        assert!(run(&step, None).is_empty(), "no certificate, no header");
    }

    #[test]
    fn info_is_formatted_and_escaped_as_traefik_does() {
        let all_subject = CertificateSubjectInfo {
            country: true,
            province: true,
            locality: true,
            organization: true,
            organizational_unit: true,
            common_name: true,
            serial_number: true,
            domain_component: true,
        };
        let config = ClientCertificateInfo {
            not_after: true,
            not_before: true,
            sans: true,
            serial_number: true,
            subject: Some(all_subject),
            issuer: Some(CertificateIssuerInfo {
                common_name: true,
                country: true,
                ..CertificateIssuerInfo::default()
            }),
        };
        let step = PassCert {
            pem: false,
            info: Some(Info::from(&config)),
        };
        let raw = step.info.as_ref().unwrap().describe(&der());
        assert_eq!(
            raw,
            "Subject=\"DC=org,DC=example,C=FR,ST=Occitanie,L=Toulouse,O=Switchyard,OU=Edge,SN=42,CN=client.example\";\
             Issuer=\"C=FR,CN=client.example\";SerialNumber=\"1234567\";NB=\"1795592340\";NA=\"2110952340\";\
             SAN=\"client.example,*.client.example,ops@example.org,10.0.0.1,spiffe://example.org/client\""
        );
        let headers = run(&step, Some(PeerCertificates::new([der()])));
        assert_eq!(headers[CERT_INFO], crate::query_escape(&raw).as_str());
        assert!(
            headers[CERT_INFO]
                .to_str()
                .unwrap()
                .starts_with("Subject%3D%22DC%3Dorg%2CDC%3Dexample")
        );
    }

    #[test]
    fn query_escape_matches_go() {
        assert_eq!(crate::query_escape("a b=c\"d,e;f/g*~"), "a+b%3Dc%22d%2Ce%3Bf%2Fg%2A~");
    }
}
