"""`bastion certutil http`: the guided creation of Bastion's HTTPS certificate(s).

The questions and the zip's layout follow `elasticsearch-certutil http`, with Bastion's names:
the gateway's files go to `bastion/` (where Elasticsearch writes `elasticsearch/`), the default
archive is `bastion-ssl-http.zip` and the sample settings file is `sample-bastion.yml`:

    bastion/README.txt, http.p12, sample-bastion.yml       (signed by a CA)
    bastion/README.txt, http-<name>.csr, http-<name>.key, sample-bastion.yml   (CSR)
    bastion/<name>/...                                       (one certificate per node)
    ca/README.txt, ca.p12                                    (when a CA was generated)
    kibana/README.txt, elasticsearch-ca.pem, sample-kibana.yml
"""

from __future__ import annotations

import argparse
import calendar
import datetime
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bastion.cli.certutil_terminal import (
    DATA_ERROR,
    CertutilError,
    Terminal,
    load_private_key,
)
from bastion.tls import pki
from bastion.tls.bundle import ZipBundle
from bastion.tls.instances import is_valid_filename, subject_for

DEFAULT_OUTPUT = "bastion-ssl-http.zip"
NODE_FOLDER = "bastion"
DEFAULT_CA_DN = "CN=Bastion HTTP CA"
DEFAULT_KEY_SIZE = 2048
DEFAULT_CERTIFICATE_NAME = "bastion"
KIBANA_CA_FILE = "elasticsearch-ca.pem"
_MAX_VALIDITY_YEARS = 100
_PERIOD = re.compile(r"P?(?:(\d{1,4})Y)?(?:(\d{1,5})M)?(?:(\d{1,4})W)?(?:(\d{1,6})D)?", re.I)
_T = TypeVar("_T")


@dataclass(frozen=True)
class Period:
    """A validity in calendar years, months and days (`5y`, `18M`, `90D`, `P1Y6M`)."""

    years: int = 0
    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> Period | None:
        match = _PERIOD.fullmatch(re.sub(r"[,\s]", "", text))
        if match is None or not any(match.groups()):
            return None
        years, months, weeks, days = (int(group or 0) for group in match.groups())
        return cls(years, months, weeks * 7 + days)

    def __str__(self) -> str:
        parts = [f"{n}{unit}" for n, unit in ((self.years, "y"), (self.months, "m")) if n]
        if self.days or not parts:
            parts.append(f"{self.days}d")
        return ",".join(parts)

    def approximate_days(self) -> int:
        return 30 * (12 * self.years + self.months) + self.days

    def days_from(self, start: datetime.date) -> int:
        """The number of days from `start` to `start` plus this period."""
        total = start.month - 1 + 12 * self.years + self.months
        year, month = start.year + total // 12, total % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        end = datetime.date(year, month, day) + datetime.timedelta(days=self.days)
        return (end - start).days


DEFAULT_VALIDITY = Period(years=5)


@dataclass(frozen=True)
class _CertificateOptions:
    name: str
    subject: x509.Name
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    key_size: int


@dataclass(frozen=True)
class _Authority:
    issued: pki.Issued
    generated: bool
    password: str = ""


def register(
    modes: Any, wrap: Callable[[Callable[[argparse.Namespace, Terminal], None]], Any]
) -> None:
    help_text = "guided creation of the certificate (or request) for Bastion's HTTPS"
    parser: argparse.ArgumentParser = modes.add_parser(
        "http", help=help_text, description=help_text
    )
    parser.add_argument("-s", "--silent", action="store_true", help="show minimal output")
    parser.set_defaults(run=wrap(run))


def run(args: argparse.Namespace, terminal: Terminal) -> None:
    _header(terminal, "Bastion HTTP Certificate Utility")
    terminal.println("This command asks a few questions, then writes a zip archive with the")
    terminal.println("certificate (or certificate signing request) and private key that Bastion's")
    terminal.println("HTTPS interface needs, and what Kibana needs to trust it.")

    _header(terminal, "Do you wish to generate a Certificate Signing Request (CSR)?")
    terminal.println("Answer yes when a certificate authority you do not control (a corporate CA)")
    terminal.println("must issue the certificate; answer no to have a CA you control sign it now.")
    terminal.println()
    csr = terminal.prompt_yes_no("Generate a CSR?", False)
    authority, validity = (None, None) if csr else _signing(terminal)
    certificates = _certificates(terminal, csr)

    _header(terminal, "What password do you want for your private key(s)?")
    if csr:
        terminal.println("The private key(s) are written as PEM files, encrypted with it.")
        password = _read_password(terminal, "Provide a password for the private key: ")
    else:
        terminal.println('The private key(s) are written to a PKCS#12 keystore, "http.p12".')
        password = _read_password(terminal, 'Provide a password for the "http.p12" file: ')

    _header(terminal, "Where should we save the generated files?")
    terminal.println("Every file is written into a single zip archive.")
    terminal.println()
    output = _read_input(
        terminal,
        "What filename should be used for the output zip file?",
        Path(DEFAULT_OUTPUT).absolute(),
        lambda answer: Path(answer).expanduser().absolute(),
    )
    terminal.ensure_parent(output)
    _bundle(certificates, authority, validity, password).write(output)
    terminal.println()
    terminal.println(f"Zip file written to {output}", always=True)


def _signing(terminal: Terminal) -> tuple[_Authority, Period]:
    _header(terminal, "Do you have an existing Certificate Authority (CA) key-pair?")
    terminal.println("Signing with an existing CA lets clients that already trust it trust")
    terminal.println("Bastion too. Otherwise a new CA is generated.")
    terminal.println()
    if terminal.prompt_yes_no("Use an existing CA?", False):
        authority = _existing_ca(terminal)
    else:
        authority = _new_ca(terminal)
    _header(terminal, "How long should your certificates be valid?")
    terminal.println("Clients reject a certificate after its expiry date. Either keep it short")
    terminal.println("(90 - 120 days) and renew it automatically, or long (3 - 5 years) and")
    terminal.println("renew it by hand a few months ahead.")
    terminal.println("Enter years (3Y), months (18M) or days (90D).")
    terminal.println()
    validity = _read_period(
        terminal, "For how long should your certificate be valid?", DEFAULT_VALIDITY, 60
    )
    return authority, validity


def _certificates(terminal: Terminal, csr: bool) -> list[_CertificateOptions]:
    _header(terminal, "Do you wish to generate one certificate per node?")
    terminal.println("Each node may get its own certificate and key for its own names, or one")
    terminal.println("certificate (a wildcard such as *.search.example.com helps) may serve all.")
    terminal.println()
    multiple = terminal.prompt_yes_no("Generate a certificate per node?", False)
    certificates: list[_CertificateOptions] = []
    description = "node #1" if multiple else "your nodes"
    while True:
        taken = {options.name for options in certificates}
        certificates.append(_certificate_options(terminal, multiple, description, csr, taken))
        if not multiple or not terminal.prompt_yes_no("Generate additional certificates?", True):
            return certificates
        description = f"node #{len(certificates) + 1}"


# ------------------------------------------------------------------------------- authorities


def _existing_ca(terminal: Terminal) -> _Authority:
    _header(terminal, "What is the path to your CA?")
    terminal.println("Enter the path of the CA that signs the certificate: a PKCS#12 keystore")
    terminal.println("(.p12) or PEM files (.crt, .key, .pem).")
    path = _request_path(terminal, "CA Path: ")
    kind = _file_type(path)
    if kind == "pkcs12":
        terminal.println("Reading a PKCS#12 keystore requires its password (<ENTER> for none).")
        password = terminal.read_secret(f"Password for {path.name}:")
        issued, _others = pki.load_pkcs12(path, password.encode())
    elif kind == "key":
        _header(terminal, "What is the path to your CA certificate?")
        terminal.println(f"{path} holds a private key; signing also needs its certificate.")
        certificate = _single_certificate(_request_path(terminal, "CA Certificate: "))
        issued = pki.issued_from(certificate, _read_key(terminal, path))
    elif kind == "certificate":
        _header(terminal, "What is the path to your CA key?")
        terminal.println(f"{path} holds a certificate; signing also needs its private key.")
        key = _read_key(terminal, _request_path(terminal, "CA Key: "))
        issued = pki.issued_from(_single_certificate(path), key)
    elif kind == "chain":
        raise CertutilError(f"{path}: Unsupported file type (certificate chain)", DATA_ERROR)
    elif kind == "jks":
        raise CertutilError(f"{path}: JKS keystores are not supported, use PKCS#12", DATA_ERROR)
    else:
        raise CertutilError(f"{path}: Unrecognized file type", DATA_ERROR)
    if not pki.is_ca(issued.certificate):
        raise CertutilError(f"the certificate in [{path}] is not a CA certificate", DATA_ERROR)
    return _Authority(issued, generated=False)


def _new_ca(terminal: Terminal) -> _Authority:
    terminal.println("A new Certificate Authority will be generated for you")
    _header(terminal, "CA Generation Options")
    terminal.println("The new CA gets these values; the defaults are secure.")
    terminal.println()
    subject = pki.parse_distinguished_name(DEFAULT_CA_DN)
    validity = DEFAULT_VALIDITY
    key_size = DEFAULT_KEY_SIZE
    while True:
        terminal.println(f"Subject DN: {subject.rfc4514_string()}", always=True)
        terminal.println(f"Validity: {validity}", always=True)
        terminal.println(f"Key Size: {key_size}", always=True)
        terminal.println(always=True)
        if not terminal.prompt_yes_no("Do you wish to change any of these options?", False):
            break
        _header(terminal, "What should your CA be named?")
        subject = _read_input(terminal, "CA Name", subject, lambda text: _subject(terminal, text))
        _header(terminal, "How long should your CA be valid?")
        validity = _read_period(terminal, "CA Validity", validity, 90)
        _header(terminal, "What key size should your CA have?")
        key_size = _read_key_size(terminal, key_size)
    _header(terminal, "CA password")
    terminal.println("Anyone holding the CA key can issue certificates that Bastion's clients")
    terminal.println("trust: protect it with a strong password, and remember that password.")
    terminal.println()
    password = _read_password(terminal, "CA password: ")
    days = validity.days_from(datetime.datetime.now(datetime.UTC).date())
    issued = pki.new_ca_from_name(subject, days=days, key_size=key_size)
    return _Authority(issued, generated=True, password=password)


def _file_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".p12", ".pfx", ".pkcs12"):
        return "pkcs12"
    if suffix == ".jks":
        return "jks"
    data = path.read_bytes()
    # DER SEQUENCE headers of PKCS#12 files, and the JKS magic number.
    if data[:2] in (b"\x30\x82", b"\x30\x56", b"\x30\x65"):
        return "pkcs12"
    if data[:2] == b"\xfe\xed":
        return "jks"
    kinds = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("-----BEGIN"):
            if "CERTIFICATE" in line:
                kinds.append("certificate")
            elif "PRIVATE KEY" in line:
                kinds.append("key")
    if len(kinds) == 1:
        return kinds[0]
    if kinds and "key" not in kinds:
        return "chain"
    return "unrecognized"


def _single_certificate(path: Path) -> x509.Certificate:
    certificates = pki.load_certificates(path)
    if len(certificates) != 1:
        raise CertutilError(
            f"{path}: expected 1 certificate, found {len(certificates)}", DATA_ERROR
        )
    return certificates[0]


def _read_key(terminal: Terminal, path: Path) -> pki.PrivateKey:
    return load_private_key(terminal, path, None, f"Password for {path.name}:")


def _request_path(terminal: Terminal, prompt: str) -> Path:
    while True:
        answer = terminal.read_text(prompt)
        path = Path(answer).expanduser().absolute()
        if not answer or not path.exists():
            terminal.println(f"The file {path} does not exist", always=True)
            continue
        try:
            with path.open("rb"):
                return path
        except OSError:
            terminal.println(f"The file {path} cannot be read", always=True)


# ------------------------------------------------------------------------------ certificates


def _certificate_options(
    terminal: Terminal, multiple: bool, description: str, csr: bool, taken: set[str]
) -> _CertificateOptions:
    name: str | None = None
    if multiple:
        _header(terminal, f"What is the name of {description}?")
        terminal.println("The name is used for the node's folder and files and as a descriptive")
        terminal.println("name in its certificate; the Bastion node's name is a good choice.")
        terminal.println()
        while True:
            name = terminal.read_text(f"{description} name: ")
            if name in taken:
                terminal.println(f"'{name}' is already used", always=True)
            elif is_valid_filename(name):
                break
            else:
                terminal.println(f"'{name}' is not a valid filename", always=True)
        description = name

    _header(terminal, f"Which hostnames will be used to connect to {description}?")
    terminal.println('They become "DNS" Subject Alternative Names (SAN) of the certificate: list')
    terminal.println("every name clients use to reach Bastion over HTTPS (wildcards such as")
    terminal.println("*.search.example.com are allowed). IP addresses come next.")
    dns = _read_names(terminal, "hostnames", lambda value: _name_error(dns=value))
    _header(terminal, f"Which IP addresses will be used to connect to {description}?")
    terminal.println("Clients connecting by IP address need these as IP Subject Alternative")
    terminal.println("Names; press <ENTER> to skip.")
    ips = _read_names(terminal, "IP addresses", lambda value: _name_error(ip=value))

    _header(terminal, "Other certificate options")
    terminal.println("The certificate gets these values, derived from your answers and secure")
    terminal.println("defaults.")
    terminal.println()
    if name is None:
        plain = [host for host in dns if "*" not in host]
        candidates = plain or [host.replace("*.", "") for host in dns]
        name = candidates[0] if candidates else DEFAULT_CERTIFICATE_NAME
    subject = _default_subject(name)
    key_size = DEFAULT_KEY_SIZE
    while True:
        terminal.println(f"Key Name: {name}", always=True)
        terminal.println(f"Subject DN: {subject.rfc4514_string()}", always=True)
        terminal.println(f"Key Size: {key_size}", always=True)
        terminal.println(always=True)
        if not terminal.prompt_yes_no("Do you wish to change any of these options?", False):
            break
        _header(terminal, "What should your key be named?")
        where = "in the names of the generated files" if csr else "as the keystore entry's name"
        terminal.println(f"The name is used {where}.")
        if not multiple:
            name = _read_input(terminal, "Key Name", name, lambda text: _filename(terminal, text))
        _header(terminal, "What subject DN should be used for your certificate?")
        subject = _read_input(terminal, "Subject DN", subject, lambda t: _subject(terminal, t))
        _header(terminal, "What key size should your certificate have?")
        key_size = _read_key_size(terminal, key_size)
    return _CertificateOptions(name, subject, tuple(dns), tuple(ips), key_size)


def _default_subject(name: str) -> x509.Name:
    # `node1.example.com` becomes `CN=node1,DC=example,DC=com`, as Elasticsearch names it.
    labels = name.split(".")
    attributes = [x509.NameAttribute(x509.NameOID.COMMON_NAME, labels[0])]
    attributes += [x509.NameAttribute(x509.NameOID.DOMAIN_COMPONENT, dc) for dc in labels[1:]]
    try:
        # RFC 4514 order is the reverse of the encoding order.
        return x509.Name(list(reversed(attributes)))
    except ValueError:
        return subject_for(DEFAULT_CERTIFICATE_NAME)


def _read_names(terminal: Terminal, kind: str, error: Callable[[str], str | None]) -> list[str]:
    while True:
        terminal.println()
        terminal.println(f"Enter all the {kind} that you need, one per line.")
        terminal.println("When you are done, press <ENTER> once more to move on to the next step.")
        terminal.println()
        values: list[str] = []
        while line := terminal.read_text(""):
            problem = error(line)
            if problem:
                terminal.println(f"Error: {problem}", always=True)
            else:
                values.append(line)
        if values:
            terminal.println(f"You entered the following {kind}.", always=True)
            terminal.println(always=True)
            for value in values:
                terminal.println(f" - {value}", always=True)
        else:
            terminal.println(f"You did not enter any {kind}.", always=True)
        terminal.println()
        if terminal.prompt_yes_no("Is this correct", True):
            return values


def _name_error(*, dns: str | None = None, ip: str | None = None) -> str | None:
    try:
        pki.subject_alternative_names([dns] if dns else [], [ip] if ip else [])
    except pki.PkiError as error:
        return str(error)
    return None


# ----------------------------------------------------------------------------------- answers


def _header(terminal: Terminal, title: str) -> None:
    terminal.println()
    terminal.println(f"## {title}")
    terminal.println()


def _read_input(
    terminal: Terminal, prompt: str, default: _T, parse: Callable[[str], _T | None]
) -> _T:
    shown = default.rfc4514_string() if isinstance(default, x509.Name) else str(default)
    while True:
        answer = terminal.read_text(f"{prompt} [{shown}] ")
        if not answer:
            return default
        parsed = parse(answer)
        if parsed is not None:
            return parsed


def _subject(terminal: Terminal, text: str) -> x509.Name | None:
    try:
        return subject_for(text)
    except pki.PkiError as error:
        terminal.println(f"'{text}' is not a valid DN ({error})", always=True)
        return None


def _filename(terminal: Terminal, text: str) -> str | None:
    if is_valid_filename(text):
        return text
    terminal.println(f"'{text}' is not a valid filename", always=True)
    return None


def _read_period(terminal: Terminal, prompt: str, default: Period, minimum_days: int) -> Period:
    def parse(text: str) -> Period | None:
        period = Period.parse(text)
        if period is None:
            terminal.println(f"Sorry, I do not understand '{text}'", always=True)
            return None
        if period.approximate_days() < 1 or period.years > _MAX_VALIDITY_YEARS:
            terminal.println(
                f"The validity must be between 1 day and {_MAX_VALIDITY_YEARS} years",
                always=True,
            )
            return None
        if period.approximate_days() < minimum_days:
            terminal.println(f"The period '{period}' is less than the recommended period")
            if not terminal.prompt_yes_no("Are you sure?", False):
                return None
        return period

    return _read_input(terminal, prompt, default, parse)


def _read_key_size(terminal: Terminal, default: int) -> int:
    terminal.println("Larger RSA keys are more secure and slower; 2048, 3072 or 4096 bits are")
    terminal.println("recommended.")

    def parse(text: str) -> int | None:
        if not text.isdigit():
            terminal.println("The key size must be a positive integer", always=True)
            return None
        size = int(text)
        if size < 1024:
            terminal.println("Keys must be at least 1024 bits", always=True)
        elif size > 8192:
            terminal.println("Keys cannot be larger than 8192 bits", always=True)
        elif size % 1024:
            terminal.println("The key size should be a multiple of 1024 bits", always=True)
        else:
            return size
        return None

    return _read_input(terminal, "Key Size", default, parse)


def _read_password(terminal: Terminal, prompt: str) -> str:
    while True:
        password = terminal.read_secret(f"{prompt} [<ENTER> for none]")
        if not password:
            return password
        if not password.isascii():
            terminal.println("Passwords must be plain ASCII", always=True)
            continue
        again = terminal.read_secret("Repeat password to confirm: ")
        if not hmac.compare_digest(password.encode(), again.encode()):
            terminal.println("Passwords do not match", always=True)
            continue
        terminal.warn_if_long(password)
        return password


# ------------------------------------------------------------------------------------ output


def _bundle(
    certificates: list[_CertificateOptions],
    authority: _Authority | None,
    validity: Period | None,
    password: str,
) -> ZipBundle:
    bundle = ZipBundle()
    bundle.directory(NODE_FOLDER)
    for options in certificates:
        folder = NODE_FOLDER if len(certificates) == 1 else f"{NODE_FOLDER}/{options.name}"
        if folder != NODE_FOLDER:
            bundle.directory(folder)
        if authority is None:
            _add_request(bundle, folder, options, password)
        else:
            assert validity is not None
            _add_certificate(
                bundle,
                folder,
                options=options,
                authority=authority,
                validity=validity,
                password=password,
            )
    if authority is not None and authority.generated:
        bundle.directory("ca")
        bundle.add("ca/README.txt", _ca_readme(authority).encode())
        ca_password = authority.password.encode() or None
        bundle.add(
            "ca/ca.p12", pki.pkcs12_bytes(authority.issued, (), ca_password, "ca"), secret=True
        )
    bundle.directory("kibana")
    bundle.add("kibana/README.txt", _kibana_readme(authority is not None).encode())
    if authority is not None:
        bundle.add(f"kibana/{KIBANA_CA_FILE}", pki.pem_certificates([authority.issued.certificate]))
    bundle.add("kibana/sample-kibana.yml", _kibana_yml(authority is not None).encode())
    return bundle


def _add_request(
    bundle: ZipBundle, folder: str, options: _CertificateOptions, password: str
) -> None:
    request, key = pki.new_csr(
        options.subject,
        dns=options.dns,
        ips=options.ips,
        key_size=options.key_size,
        server_only=True,
    )
    csr_file, key_file = f"http-{options.name}.csr", f"http-{options.name}.key"
    bundle.add(f"{folder}/README.txt", _csr_readme(csr_file, key_file, bool(password)).encode())
    bundle.add(f"{folder}/{csr_file}", request.public_bytes(serialization.Encoding.PEM))
    key_pem = pki.pem_private_key(key, password.encode() or None)
    bundle.add(f"{folder}/{key_file}", key_pem, secret=True)
    bundle.add(f"{folder}/sample-bastion.yml", _pem_yml(options.name, bool(password)).encode())


def _add_certificate(
    bundle: ZipBundle,
    folder: str,
    *,
    options: _CertificateOptions,
    authority: _Authority,
    validity: Period,
    password: str,
) -> None:
    issued = pki.new_certificate_from_name(
        authority.issued,
        options.subject,
        dns=options.dns,
        ips=options.ips,
        days=validity.days_from(datetime.datetime.now(datetime.UTC).date()),
        key_size=options.key_size,
        client=False,
    )
    data = pki.pkcs12_bytes(
        issued, [authority.issued.certificate], password.encode() or None, "http"
    )
    bundle.add(f"{folder}/README.txt", _p12_readme(bool(password)).encode())
    bundle.add(f"{folder}/http.p12", data, secret=True)
    bundle.add(f"{folder}/sample-bastion.yml", _p12_yml(bool(password)).encode())


def _p12_readme(has_password: bool) -> str:
    secret = (
        "\nThe keystore is password protected: store its password in Bastion's keystore\n"
        "(config/bastion.keystore) as xpack.security.http.ssl.keystore.secure_password.\n"
        if has_password
        else ""
    )
    return (
        "http.p12 holds this node's HTTPS certificate, its private key and the CA certificate.\n"
        "Copy it to Bastion's configuration folder and merge sample-bastion.yml into\n"
        f"bastion.yml.\n{secret}"
    )


def _p12_yml(has_password: bool) -> str:
    note = (
        "# The keystore password goes in bastion.keystore as\n"
        "# xpack.security.http.ssl.keystore.secure_password.\n"
        if has_password
        else ""
    )
    return (
        "# HTTPS for Bastion, written by `bastion certutil http`.\n"
        f"{note}"
        "xpack.security.http.ssl.enabled: true\n"
        "xpack.security.http.ssl.keystore.path: http.p12\n"
    )


def _csr_readme(csr_file: str, key_file: str, has_password: bool) -> str:
    protected = " (encrypted with the password you gave)" if has_password else ""
    return (
        f"{csr_file} is a certificate signing request: send it to your certificate authority.\n"
        f"{key_file} is its private key{protected}: keep it private, it never leaves this node.\n"
        "Once the CA returns the signed certificate, copy the certificate and the key to\n"
        "Bastion's configuration folder and merge sample-bastion.yml into bastion.yml.\n"
    )


def _pem_yml(name: str, has_password: bool) -> str:
    note = (
        "# The key's password goes in bastion.keystore as\n"
        "# xpack.security.http.ssl.secure_key_passphrase.\n"
        if has_password
        else ""
    )
    return (
        "# HTTPS for Bastion, written by `bastion certutil http`.\n"
        f"{note}"
        "xpack.security.http.ssl.enabled: true\n"
        f"xpack.security.http.ssl.key: http-{name}.key\n"
        f"xpack.security.http.ssl.certificate: http-{name}.crt\n"
    )


def _ca_readme(authority: _Authority) -> str:
    return (
        "ca.p12 holds the new certificate authority: its certificate and private key\n"
        f"({authority.issued.certificate.subject.rfc4514_string()}).\n"
        "Keep it safe and offline; use it (bastion certutil cert --ca ca.p12) to sign\n"
        "further certificates that clients will trust alike.\n"
    )


def _kibana_readme(has_ca: bool) -> str:
    trust = (
        f"{KIBANA_CA_FILE} is the CA certificate that signed Bastion's HTTPS certificate;\n"
        "copy it to Kibana's configuration folder.\n"
        if has_ca
        else "Kibana must trust the CA that signs Bastion's certificate request.\n"
    )
    return f"{trust}Merge sample-kibana.yml into kibana.yml, with Bastion's https:// address.\n"


def _kibana_yml(has_ca: bool) -> str:
    trust = (
        f'elasticsearch.ssl.certificateAuthorities: ["config/{KIBANA_CA_FILE}"]\n'
        if has_ca
        else '# elasticsearch.ssl.certificateAuthorities: [ "config/your-ca.pem" ]\n'
    )
    return (
        "# Kibana connecting to Bastion over HTTPS, written by `bastion certutil http`.\n"
        'elasticsearch.hosts: ["https://localhost:9200"]\n'
        f"{trust}"
    )
