#include "node/network_ca.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/openssl_handles.h"
#include "common/text.h"

namespace aurora::node {
namespace {

namespace fs = std::filesystem;

constexpr char kCaKey[] = "ca.key";
constexpr char kCaCert[] = "ca.crt";
constexpr char kIssued[] = "issued.tsv";
constexpr char kRevoked[] = "revoked.tsv";
constexpr char kCrlFolder[] = "crl";
// How long a CRL is valid: nodes refuse every peer once their CRL has expired, so `aurora ca crl`
// (or any revocation) must run within this period.
constexpr int kCrlDays = 90;

absl::Status Failed(std::string_view what) {
  return absl::InternalError(absl::StrCat(Sv(what), ": ", OpenSslError()));
}

std::string Path(const std::string& dir, std::string_view name) {
  return (fs::path(dir) / std::string(name)).string();
}

absl::StatusOr<std::string> ToPem(const std::function<int(BIO*)>& write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (write(bio.get()) != 1) return Failed("writing PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

absl::Status SetTime(ASN1_TIME* field, absl::Time time) {
  if (ASN1_TIME_set(field, absl::ToTimeT(time)) == nullptr) return Failed("setting a date");
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509V3_CTX* context, int nid, const std::string& value) {
  X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, context, nid, value.c_str()));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    return Failed(absl::StrCat("adding the extension ", OBJ_nid2sn(nid), " = ", value));
  }
  return absl::OkStatus();
}

// A positive 127-bit random serial (RFC 5280: at most 20 octets, positive).
absl::Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return Failed("making a serial number");
  bytes[0] &= 0x7f;
  bytes[0] |= 0x40;  // positive, and no leading zero digit: the hex form is always 32 digits
  BnPtr serial(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!serial || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return Failed("setting the serial number");
  }
  return absl::OkStatus();
}

absl::StatusOr<X509NamePtr> Name(const std::string& common_name, const std::string& organization) {
  X509NamePtr name(X509_NAME_new());
  const auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                      0) == 1;
  };
  if (!add("O", organization) || !add("CN", common_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the name ", QuoteForMessage(common_name),
                     " cannot be a certificate name (1 to 64 characters): ", OpenSslError()));
  }
  return name;
}

struct LoadedCa {
  X509Ptr cert;
  PkeyPtr key;
};

absl::StatusOr<LoadedCa> LoadCa(const std::string& dir) {
  auto cert_text = ReadFile(Path(dir, kCaCert));
  if (!cert_text.ok()) {
    return absl::NotFoundError(absl::StrCat("no network CA in ", QuoteForMessage(dir), ": ",
                                            cert_text.status().message(),
                                            " (make one with `aurora ca init --dir DIR`)"));
  }
  auto key_text = ReadFile(Path(dir, kCaKey));
  if (!key_text.ok()) return key_text.status();
  LoadedCa ca;
  BioPtr cert_bio(BIO_new_mem_buf(cert_text->data(), static_cast<int>(cert_text->size())));
  ca.cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  BioPtr key_bio(BIO_new_mem_buf(key_text->data(), static_cast<int>(key_text->size())));
  ca.key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca.cert || !ca.key || X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    ERR_clear_error();
    return absl::DataLossError(absl::StrCat("the CA in ", QuoteForMessage(dir),
                                            " is damaged: ca.crt and ca.key do not parse or do "
                                            "not belong together"));
  }
  return ca;
}

// revoked.tsv as serial (lowercase hex) -> revocation time.
absl::StatusOr<std::map<std::string, int64_t>> ReadRevoked(const std::string& dir) {
  std::map<std::string, int64_t> out;
  auto text = ReadFile(Path(dir, kRevoked));
  if (absl::IsNotFound(text.status())) return out;
  if (!text.ok()) return text.status();
  const std::vector<std::string> lines = absl::StrSplit(Sv(*text), '\n', absl::SkipEmpty());
  for (const std::string& line : lines) {
    std::vector<std::string> fields = absl::StrSplit(Sv(line), '\t');
    int64_t when = 0;
    if (fields.size() != 2 || !absl::SimpleAtoi(fields[1], &when)) {
      return absl::DataLossError(
          absl::StrCat(Path(dir, kRevoked), ": malformed line ", QuoteForMessage(line)));
    }
    out.emplace(fields[0], when);
  }
  return out;
}

absl::Status WriteCrl(const std::string& dir, const LoadedCa& ca,
                      const std::map<std::string, int64_t>& revoked, absl::Time now) {
  X509CrlPtr crl(X509_CRL_new());
  if (!crl || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.cert.get())) != 1) {
    return Failed("making the CRL");
  }
  Asn1TimePtr last(ASN1_TIME_set(nullptr, absl::ToTimeT(now)));
  Asn1TimePtr next(ASN1_TIME_set(nullptr, absl::ToTimeT(now + absl::Hours(24 * kCrlDays))));
  if (X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return Failed("dating the CRL");
  }
  for (const auto& [serial_hex, when] : revoked) {
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, serial_hex.c_str()) == 0) {
      return absl::DataLossError(absl::StrCat("revoked.tsv: bad serial ", serial_hex));
    }
    BnPtr serial(raw);
    Asn1IntegerPtr number(BN_to_ASN1_INTEGER(serial.get(), nullptr));
    Asn1TimePtr date(ASN1_TIME_set(nullptr, static_cast<time_t>(when)));
    X509RevokedPtr entry(X509_REVOKED_new());
    if (!number || !date || !entry ||
        X509_REVOKED_set_serialNumber(entry.get(), number.get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry.get(), date.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) {
      return Failed("adding a revoked certificate to the CRL");
    }
    entry.release();  // owned by the CRL now
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), ca.key.get(), EVP_sha256()) == 0) return Failed("signing the CRL");
  auto pem = ToPem([&](BIO* bio) { return PEM_write_bio_X509_CRL(bio, crl.get()); });
  if (!pem.ok()) return pem.status();
  auto path = CrlPath(dir);
  if (!path.ok()) return path.status();
  std::error_code error;
  fs::create_directories(Path(dir, kCrlFolder), error);
  if (error) return absl::UnavailableError(absl::StrCat("cannot make ", Path(dir, kCrlFolder)));
  return WriteFileAtomically(*path, *pem, 0644);
}

absl::Status CheckDnsName(const std::string& name) {
  const bool ok =
      !name.empty() && name.size() <= 253 && std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
               c == '*';
      });
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--dns: ", QuoteForMessage(name),
        " is not a DNS name (letters, digits, '-', '.', a leading '*.' for a wildcard)"));
  }
  return absl::OkStatus();
}

absl::Status CheckIpAddress(const std::string& address) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, address.c_str(), buffer) != 1 &&
      inet_pton(AF_INET6, address.c_str(), buffer) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ip: ", QuoteForMessage(address), " is not an IPv4 or IPv6 address"));
  }
  return absl::OkStatus();
}

absl::Status CheckDays(int days, std::string_view flag) {
  if (days < 1 || days > 36500) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(flag), ": 1 to 36500 days, not ", days));
  }
  return absl::OkStatus();
}

// A signed X.509 v3 certificate for `key` named `subject`, with a random serial, valid from five
// minutes before `now` for `days` days, with `extensions`; signed by `signer`, whose certificate
// is `issuer` (null: self-signed).
absl::StatusOr<X509Ptr> MakeCertificate(
    X509_NAME* subject, X509* issuer, EVP_PKEY* key, EVP_PKEY* signer, absl::Time now, int days,
    const std::vector<std::pair<int, std::string>>& extensions) {
  X509Ptr cert(X509_new());
  X509* raw = cert.get();
  if (X509_set_version(raw, X509_VERSION_3) != 1 || X509_set_subject_name(raw, subject) != 1 ||
      X509_set_issuer_name(raw, issuer != nullptr ? X509_get_subject_name(issuer) : subject) != 1 ||
      X509_set_pubkey(raw, key) != 1) {
    return Failed("making a certificate");
  }
  if (auto status = SetRandomSerial(raw); !status.ok()) return status;
  if (auto status = SetTime(X509_getm_notBefore(raw), now - absl::Minutes(5)); !status.ok()) {
    return status;
  }
  if (auto status = SetTime(X509_getm_notAfter(raw), now + absl::Hours(24) * days); !status.ok()) {
    return status;
  }
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer != nullptr ? issuer : raw, raw, nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    if (auto status = AddExtension(raw, &context, nid, value); !status.ok()) return status;
  }
  if (X509_sign(raw, signer, EVP_sha256()) == 0) return Failed("signing a certificate");
  return cert;
}

}  // namespace

absl::StatusOr<std::string> CrlPath(const std::string& ca_dir) {
  auto ca_text = ReadFile(Path(ca_dir, kCaCert));
  if (!ca_text.ok()) return ca_text.status();
  BioPtr bio(BIO_new_mem_buf(ca_text->data(), static_cast<int>(ca_text->size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return absl::DataLossError(absl::StrCat(Path(ca_dir, kCaCert), " does not parse"));
  int ok = 0;
  const unsigned long hash =
      X509_NAME_hash_ex(X509_get_subject_name(cert.get()), nullptr, nullptr, &ok);
  if (ok != 1) return Failed("hashing the CA's name");
  return Path(Path(ca_dir, kCrlFolder), absl::StrFormat("%08lx.r0", hash));
}

absl::StatusOr<CertificateInfo> InitNetworkCa(const CaInitOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("--dir: give the CA's folder");
  if (auto status = CheckDays(options.days, "--days"); !status.ok()) return status;
  std::error_code error;
  if (fs::exists(Path(options.dir, kCaKey), error) ||
      fs::exists(Path(options.dir, kCaCert), error)) {
    return absl::AlreadyExistsError(
        absl::StrCat(QuoteForMessage(options.dir),
                     " already holds a network CA; refusing to replace it (every node's "
                     "certificate chains to it)"));
  }
  fs::create_directories(options.dir, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("--dir ", QuoteForMessage(options.dir),
                                               ": cannot make the folder: ", error.message()));
  }
  LoadedCa ca;
  ca.key.reset(EVP_EC_gen("P-256"));
  if (!ca.key) return Failed("making the CA key");
  auto name = Name(options.name, "Aurora Network");
  if (!name.ok()) return name.status();
  auto cert =
      MakeCertificate(name->get(), nullptr, ca.key.get(), ca.key.get(), options.now, options.days,
                      {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                       {NID_key_usage, "critical,keyCertSign,cRLSign"},
                       {NID_subject_key_identifier, "hash"},
                       {NID_authority_key_identifier, "keyid:always"}});
  if (!cert.ok()) return cert.status();
  ca.cert = *std::move(cert);

  auto key_pem = ToPem([&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, ca.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (!key_pem.ok()) return key_pem.status();
  auto cert_pem = ToPem([&](BIO* bio) { return PEM_write_bio_X509(bio, ca.cert.get()); });
  if (!cert_pem.ok()) return cert_pem.status();
  if (auto status = WriteFileAtomically(Path(options.dir, kCaKey), *key_pem, 0600); !status.ok()) {
    return status;
  }
  if (auto status = WriteFileAtomically(Path(options.dir, kCaCert), *cert_pem, 0644);
      !status.ok()) {
    return status;
  }
  if (auto status = WriteCrl(options.dir, ca, {}, options.now); !status.ok()) return status;
  return InspectCertificate(*cert_pem, "the new CA certificate");
}

absl::StatusOr<CertificateInfo> IssueNodeCertificate(const NodeCertificateRequest& request) {
  if (!IsCanonicalUuid(request.organization_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--org: ", QuoteForMessage(request.organization_id),
                     " is not an organisation id (a lowercase canonical UUID, as the directory "
                     "assigns them)"));
  }
  if (auto status = CheckDays(request.days, "--days"); !status.ok()) return status;
  if (request.dns_names.empty() && request.ip_addresses.empty()) {
    return absl::InvalidArgumentError(
        "--dns / --ip: give at least one name or address the node is reached by");
  }
  std::vector<std::string> alt_names = {
      absl::StrCat("URI:", kOrganizationUriPrefix, request.organization_id)};
  for (const auto& dns : request.dns_names) {
    if (auto status = CheckDnsName(dns); !status.ok()) return status;
    alt_names.push_back(absl::StrCat("DNS:", dns));
  }
  for (const auto& ip : request.ip_addresses) {
    if (auto status = CheckIpAddress(ip); !status.ok()) return status;
    alt_names.push_back(absl::StrCat("IP:", ip));
  }
  for (const auto& role : request.roles) {
    if (role.empty() || role.size() > 40 ||
        !std::all_of(role.begin(), role.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; })) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--role: ", QuoteForMessage(role),
          " is not a role name (1 to 40 lowercase letters and hyphens, e.g. \"registry\")"));
    }
    alt_names.push_back(absl::StrCat("URI:", kRoleUriPrefix, role));
  }
  if (request.out_dir.empty()) return absl::InvalidArgumentError("--out: give the node's folder");
  auto ca = LoadCa(request.ca_dir);
  if (!ca.ok()) return ca.status();

  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Failed("making the node key");
  auto name = Name(request.organization_id, "Aurora Network member");
  if (!name.ok()) return name.status();
  auto cert = MakeCertificate(name->get(), ca->cert.get(), key.get(), ca->key.get(), request.now,
                              request.days,
                              {{NID_basic_constraints, "critical,CA:FALSE"},
                               {NID_key_usage, "critical,digitalSignature"},
                               {NID_ext_key_usage, "serverAuth,clientAuth"},
                               {NID_subject_key_identifier, "hash"},
                               {NID_authority_key_identifier, "keyid:always"},
                               {NID_subject_alt_name, absl::StrJoin(alt_names, ",")}});
  if (!cert.ok()) return cert.status();

  auto key_pem = ToPem([&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (!key_pem.ok()) return key_pem.status();
  auto cert_pem = ToPem([&](BIO* bio) { return PEM_write_bio_X509(bio, cert->get()); });
  if (!cert_pem.ok()) return cert_pem.status();
  auto ca_pem = ReadFile(Path(request.ca_dir, kCaCert));
  if (!ca_pem.ok()) return ca_pem.status();
  auto info = InspectCertificate(*cert_pem, "the new certificate");
  if (!info.ok()) return info.status();

  std::error_code error;
  fs::create_directories(request.out_dir, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("--out ", QuoteForMessage(request.out_dir),
                                               ": cannot make the folder: ", error.message()));
  }
  // The key first: a node that reloads between the two renames sees a key that does not match
  // its certificate and keeps the old pair until the next refresh.
  for (const auto& [file, content, mode] :
       std::vector<std::tuple<std::string, std::string, int>>{{"node.key", *key_pem, 0600},
                                                              {"node.crt", *cert_pem, 0644},
                                                              {"ca.crt", *ca_pem, 0644}}) {
    if (auto status =
            WriteFileAtomically(Path(request.out_dir, file), content, static_cast<mode_t>(mode));
        !status.ok()) {
      return status;
    }
  }
  auto issued = ReadFile(Path(request.ca_dir, kIssued));
  std::string log = issued.ok() ? *issued : "";
  absl::StrAppend(&log, info->serial_hex, "\t", request.organization_id, "\t",
                  absl::FormatTime(absl::RFC3339_sec, info->not_after, absl::UTCTimeZone()), "\t",
                  info->subject, "\n");
  if (auto status = WriteFileAtomically(Path(request.ca_dir, kIssued), log, 0644); !status.ok()) {
    return status;
  }
  return info;
}

absl::StatusOr<std::string> RevokeCertificate(const std::string& ca_dir,
                                              const std::string& cert_file_or_serial,
                                              absl::Time now) {
  auto ca = LoadCa(ca_dir);
  if (!ca.ok()) return ca.status();
  std::string serial;
  std::error_code error;
  if (!cert_file_or_serial.empty() && fs::is_regular_file(cert_file_or_serial, error)) {
    auto pem = ReadFile(cert_file_or_serial);
    if (!pem.ok()) return pem.status();
    auto info = InspectCertificate(*pem, QuoteForMessage(cert_file_or_serial));
    if (!info.ok()) return info.status();
    serial = info->serial_hex;
  } else {
    serial = absl::AsciiStrToLower(cert_file_or_serial);
    while (serial.size() > 1 && serial[0] == '0') serial.erase(0, 1);
    const bool hex = !serial.empty() && serial.size() <= 40 &&
                     std::all_of(serial.begin(), serial.end(), [](char c) {
                       return absl::ascii_isxdigit(static_cast<unsigned char>(c));
                     });
    if (!hex) {
      return absl::InvalidArgumentError(
          absl::StrCat(QuoteForMessage(cert_file_or_serial),
                       " is neither a certificate file nor a serial number in hex"));
    }
  }
  auto revoked = ReadRevoked(ca_dir);
  if (!revoked.ok()) return revoked.status();
  if (revoked->emplace(serial, absl::ToUnixSeconds(now)).second) {
    std::string text;
    for (const auto& [s, when] : *revoked) absl::StrAppend(&text, s, "\t", when, "\n");
    if (auto status = WriteFileAtomically(Path(ca_dir, kRevoked), text, 0644); !status.ok()) {
      return status;
    }
  }
  if (auto status = WriteCrl(ca_dir, *ca, *revoked, now); !status.ok()) return status;
  return serial;
}

absl::StatusOr<std::string> RefreshCrl(const std::string& ca_dir, absl::Time now) {
  auto ca = LoadCa(ca_dir);
  if (!ca.ok()) return ca.status();
  auto revoked = ReadRevoked(ca_dir);
  if (!revoked.ok()) return revoked.status();
  if (auto status = WriteCrl(ca_dir, *ca, *revoked, now); !status.ok()) return status;
  return CrlPath(ca_dir);
}

}  // namespace aurora::node
