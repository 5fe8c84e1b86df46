#include "common/tls.h"

#include <fcntl.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/openssl_handles.h"
#include "common/text.h"

namespace aurora {
namespace {

using X509StackPtr =
    std::unique_ptr<STACK_OF(X509),
                    decltype([](STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); })>;

absl::StatusOr<absl::Time> ToTime(const ASN1_TIME* time) {
  struct tm parts {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) {
    return absl::InvalidArgumentError("has an unreadable validity date");
  }
  return absl::FromUnixSeconds(timegm(&parts));
}

std::string Asn1Text(const ASN1_STRING* text) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                     static_cast<size_t>(ASN1_STRING_length(text)));
}

// Every certificate of a PEM text, in order.
absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(std::string_view pem,
                                                      const std::string& label) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the text reads as an error
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, " holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")"));
  }
  return out;
}

absl::StatusOr<std::string> ReadNamed(const std::string& path, std::string_view flag) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(flag), " is required when any of --tls-cert, --tls-key, --tls-ca is set"));
  }
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat(Sv(flag), " ", QuoteForMessage(path),
                                                           ": ", text.status().message()));
  }
  return text;
}

// Lowercase hex without leading zeros, as `aurora ca` prints and revoke accepts serials.
std::string SerialHex(const ASN1_INTEGER* number) {
  BnPtr serial(ASN1_INTEGER_to_BN(number, nullptr));
  if (!serial) return "";
  char* hex = BN_bn2hex(serial.get());
  std::string out = absl::AsciiStrToLower(hex);
  OPENSSL_free(hex);
  const size_t first = out.find_first_not_of('0');
  return first == std::string::npos ? "0" : out.substr(first);
}

absl::StatusOr<CertificateInfo> Inspect(X509* cert, std::string_view label) {
  CertificateInfo info;
  BioPtr subject(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(subject.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long length = BIO_get_mem_data(subject.get(), &data);
  info.subject.assign(data, static_cast<size_t>(length));
  info.serial_hex = SerialHex(X509_get0_serialNumber(cert));
  auto not_before = ToTime(X509_get0_notBefore(cert));
  auto not_after = ToTime(X509_get0_notAfter(cert));
  if (!not_before.ok() || !not_after.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(label), " has an unreadable validity date"));
  }
  info.not_before = *not_before;
  info.not_after = *not_after;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      if (name->type != GEN_URI) continue;
      const std::string uri = Asn1Text(name->d.uniformResourceIdentifier);
      if (absl::StartsWith(uri, kOrganizationUriPrefix)) {
        if (info.organization_id.empty()) {
          info.organization_id = uri.substr(std::strlen(kOrganizationUriPrefix));
        }
      } else if (absl::StartsWith(uri, kRoleUriPrefix)) {
        info.roles.push_back(uri.substr(std::strlen(kRoleUriPrefix)));
      }
    }
    GENERAL_NAMES_free(names);
  }
  return info;
}

// The CRLs of a folder as `aurora ca revoke` and OpenSSL's hashed-directory lookup name them.
absl::StatusOr<std::vector<X509CrlPtr>> ReadCrls(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    return absl::NotFoundError(
        absl::StrCat("--tls-crl-dir ", QuoteForMessage(dir), " is not a folder"));
  }
  std::vector<X509CrlPtr> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 11 || name[8] != '.' || name[9] != 'r') continue;  // <8 hex>.r<n>
    auto text = ReadFile(entry.path().string());
    if (!text.ok()) return text.status();
    BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
    X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
    if (crl == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--tls-crl-dir file ",
                                                     QuoteForMessage(entry.path().string()),
                                                     " is not a PEM CRL: ", OpenSslError()));
    }
    out.emplace_back(crl);
  }
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("--tls-crl-dir ", QuoteForMessage(dir), ": ", error.message()));
  }
  return out;
}

// The serials the CRLs in `dir` revoke; every CRL must be signed by one of `roots`.
absl::StatusOr<std::set<std::string>> RevokedSerials(const std::string& dir,
                                                     const std::vector<X509Ptr>& roots) {
  auto crls = ReadCrls(dir);
  if (!crls.ok()) return crls.status();
  std::set<std::string> out;
  for (const auto& crl : *crls) {
    bool signed_by_root = false;
    for (const auto& root : roots) {
      EVP_PKEY* key = X509_get0_pubkey(root.get());
      if (key != nullptr && X509_CRL_verify(crl.get(), key) == 1) signed_by_root = true;
    }
    ERR_clear_error();
    if (!signed_by_root) {
      return absl::InvalidArgumentError(absl::StrCat("--tls-crl-dir ", QuoteForMessage(dir),
                                                     " holds a CRL not signed by the network CA"));
    }
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
      out.insert(SerialHex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
    }
  }
  return out;
}

// The revoked serials of --tls-crl-dir as they are now: the folder is looked at again at most
// every `refresh`, and re-read when a file in it changed. A CRL that cannot be read keeps the
// last good set (revocations are never forgotten) and is logged.
class RevocationList {
 public:
  explicit RevocationList(TlsFiles files) : files_(std::move(files)) {}

  bool IsRevoked(const std::string& serial_hex) {
    if (files_.crl_dir.empty()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    const absl::Time now = absl::Now();
    if (now >= next_check_) {
      next_check_ = now + files_.refresh;
      Reload();
    }
    return revoked_.contains(serial_hex);
  }

 private:
  void Reload() {
    std::string stamp;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(files_.crl_dir, error)) {
      std::error_code ignored;
      absl::StrAppend(&stamp, entry.path().filename().string(), ":",
                      entry.last_write_time(ignored).time_since_epoch().count(), ":",
                      entry.file_size(ignored), ";");
    }
    if (stamp == stamp_) return;
    auto ca_text = ReadFile(files_.ca);
    auto roots = ca_text.ok() ? ReadCertificates(*ca_text, "--tls-ca")
                              : absl::StatusOr<std::vector<X509Ptr>>(ca_text.status());
    auto serials = roots.ok() ? RevokedSerials(files_.crl_dir, *roots)
                              : absl::StatusOr<std::set<std::string>>(roots.status());
    if (!serials.ok()) {
      LogError("tls", "cannot read the revocation lists; keeping the last ones",
               {{"crl_dir", files_.crl_dir}, {"error", std::string(serials.status().message())}});
      return;
    }
    // A list only grows: a serial once revoked stays refused even if a file goes missing.
    revoked_.insert(serials->begin(), serials->end());
    stamp_ = stamp;
  }

  const TlsFiles files_;
  std::mutex mu_;
  absl::Time next_check_ = absl::InfinitePast();
  std::string stamp_;
  std::set<std::string> revoked_;
};

// Runs after gRPC has verified the peer's chain to the CA: refuses a revoked certificate (always
// against the current CRLs, so a revocation applies to the next handshake without a restart), one
// that names no organisation, and, on a channel, a server whose certificate does not name the
// host the channel was made for.
class PeerVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  PeerVerifier(std::shared_ptr<RevocationList> revocations, bool check_host)
      : revocations_(std::move(revocations)), check_host_(check_host) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)>, grpc::Status* sync_status) override {
    *sync_status = Check(*request);
    return true;  // answered synchronously
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  grpc::Status Check(const grpc::experimental::TlsCustomVerificationCheckRequest& request) {
    const grpc::string_ref pem = request.peer_cert();
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      ERR_clear_error();
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the peer sent no certificate");
    }
    auto info = Inspect(cert.get(), "the peer's certificate");
    if (!info.ok() || !IsCanonicalUuid(info->organization_id)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "the peer's certificate names no organisation (urn:aurora:org:)");
    }
    if (revocations_->IsRevoked(info->serial_hex)) {
      LogWarning("tls", "refused a revoked certificate",
                 {{"organization", info->organization_id}, {"serial", info->serial_hex}});
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          absl::StrCat("the peer's certificate ", info->serial_hex,
                                       " (organisation ", info->organization_id, ") is revoked"));
    }
    if (check_host_) {
      std::string host(request.target_name().data(), request.target_name().size());
      if (!host.empty() && host.front() == '[') {
        host = host.substr(1, host.find(']') - 1);
      } else if (std::count(host.begin(), host.end(), ':') == 1) {
        host = host.substr(0, host.find(':'));
      }
      const bool matches = X509_check_ip_asc(cert.get(), host.c_str(), 0) == 1 ||
                           X509_check_host(cert.get(), host.data(), host.size(), 0, nullptr) == 1;
      ERR_clear_error();
      if (!matches) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                            absl::StrCat("the server's certificate does not name the host ",
                                         QuoteForMessage(host)));
      }
    }
    return grpc::Status::OK;
  }

  std::shared_ptr<RevocationList> revocations_;
  const bool check_host_;
};

absl::StatusOr<CertificateInfo> CheckTlsTexts(const TlsFiles& files, const std::string& cert_text,
                                              const std::string& key_text,
                                              const std::string& ca_text, absl::Time now);

// The node's key and certificate chain as gRPC's file-watcher provider reads them: one in-memory
// file (a memfd, at /proc/self/fd/<n>) holding both, which changes in one step and only to a pair
// that CheckTlsFiles accepts. gRPC 1.51 reads --tls-key and --tls-cert at moments of its own and
// does not check that they belong together: a renewal that replaces one file and then the other
// could hand it a key of another certificate, and every handshake fails until its next read (a
// minute by default). Here a half-renewed pair, or an expired, foreign or revoked certificate,
// is logged and the current one kept. (A read of gRPC's that spans a change sees the file's
// modification time change, which each change advances by a second, and is done again.)
//
// Thread-safe; one per set of files in the process, looked at every `refresh` by one thread.
class IdentityMirror {
 public:
  // The path gRPC reads, for key and certificate alike ("" when no memfd could be made: then the
  // files themselves); the files are read again now and taken if usable (or if first).
  static std::string PathFor(const TlsFiles& files) {
    Registry& registry = Registry::Get();
    std::lock_guard lock(registry.mu);
    auto& mirror = registry.mirrors[{files.cert, files.key, files.ca, files.crl_dir}];
    if (!mirror) {
      mirror.reset(new IdentityMirror(files));
      if (!registry.started) {
        std::thread([&registry] { Run(registry); }).detach();
        registry.started = true;
      }
    }
    mirror->files_.refresh = std::min(mirror->files_.refresh, files.refresh);
    mirror->Refresh();
    return mirror->fd_ < 0 ? "" : absl::StrCat("/proc/self/fd/", mirror->fd_);
  }

 private:
  // Leaked on purpose: gRPC's providers read the paths for as long as the process lives.
  struct Registry {
    static Registry& Get() {
      static Registry* registry = new Registry();
      return *registry;
    }
    std::mutex mu;
    std::map<std::tuple<std::string, std::string, std::string, std::string>,
             std::unique_ptr<IdentityMirror>>
        mirrors;
    bool started = false;
  };

  explicit IdentityMirror(TlsFiles files)
      : files_(std::move(files)), mtime_(absl::ToUnixSeconds(absl::Now())) {}

  static void Run(Registry& registry) {
    while (true) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      std::lock_guard lock(registry.mu);
      const absl::Time now = absl::Now();
      for (auto& [paths, mirror] : registry.mirrors) {
        if (now >= mirror->next_check_) mirror->Refresh();
      }
    }
  }

  // Under the registry's mutex.
  void Refresh() {
    next_check_ = absl::Now() + files_.refresh;
    auto cert = ReadFile(files_.cert);
    auto key = ReadFile(files_.key);
    if (fd_ < 0) {  // the first: as the files are (CheckTlsFiles has told the caller about them)
      if (!cert.ok() || !key.ok() || !Install(*key, *cert)) return;
      cert_ = *cert;
      key_ = *key;
      return;
    }
    if (cert.ok() && key.ok() && *cert == cert_ && *key == key_) return;
    absl::StatusOr<std::string> ca = ReadFile(files_.ca);
    absl::StatusOr<CertificateInfo> info =
        !cert.ok()  ? cert.status()
        : !key.ok() ? key.status()
        : !ca.ok()  ? ca.status()
                    : CheckTlsTexts(files_, *cert, *key, *ca, absl::Now());
    if (!info.ok()) {
      const std::string error(info.status().message());
      if (error != refused_) {
        LogWarning("tls", "kept the current certificate: the files are not a usable pair (yet)",
                   {{"cert", files_.cert}, {"key", files_.key}, {"error", error}});
        refused_ = error;
      }
      return;
    }
    if (!Install(*key, *cert)) return;
    cert_ = *cert;
    key_ = *key;
    refused_.clear();
    LogInfo(
        "tls", "took the renewed certificate",
        {{"cert", files_.cert},
         {"organization", info->organization_id},
         {"certificate_serial", info->serial_hex},
         {"not_after", absl::FormatTime(absl::RFC3339_sec, info->not_after, absl::UTCTimeZone())}});
  }

  // A new memfd with the key and the certificate chain, in place of the current one at once.
  bool Install(const std::string& key, const std::string& cert) {
    const int fd = memfd_create("aurora-tls-identity", MFD_CLOEXEC);
    if (fd < 0) {
      LogWarning("tls", "cannot keep the certificate in memory; gRPC reads the files themselves",
                 {{"error", std::strerror(errno)}});
      return false;
    }
    const std::string text = absl::StrCat(key, "\n", cert);
    bool ok = true;
    for (size_t done = 0; ok && done < text.size();) {
      const ssize_t n = write(fd, text.data() + done, text.size() - done);
      ok = n > 0 || (n < 0 && errno == EINTR);
      if (n > 0) done += static_cast<size_t>(n);
    }
    const struct timespec times[2] = {{0, UTIME_OMIT}, {++mtime_, 0}};
    ok = ok && futimens(fd, times) == 0;
    if (ok && fd_ >= 0) ok = dup3(fd, fd_, O_CLOEXEC) >= 0;
    if (!ok) {
      LogError("tls", "cannot update the in-memory certificate", {{"error", std::strerror(errno)}});
      close(fd);
      return false;
    }
    if (fd_ < 0) {
      fd_ = fd;
    } else {
      close(fd);
    }
    return true;
  }

  TlsFiles files_;
  absl::Time next_check_ = absl::InfinitePast();
  int fd_ = -1;
  int64_t mtime_;     // of the memfd: a second more at every change
  std::string cert_;  // what the memfd holds
  std::string key_;
  std::string refused_;  // the last reason the files were not taken
};

std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> Provider(
    const TlsFiles& files) {
  const auto seconds = std::max<int64_t>(1, absl::ToInt64Seconds(files.refresh));
  const std::string identity = IdentityMirror::PathFor(files);
  if (identity.empty()) {
    return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        files.key, files.cert, files.ca, static_cast<unsigned int>(seconds));
  }
  // gRPC reads the in-memory copy every second, so that a renewal takes effect within `refresh`
  // (plus a second) of reaching the files.
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(identity, identity,
                                                                              files.ca, 1);
}

// Verifies `chain` (the leaf, then intermediates) against `roots`, at `now`, with the CRLs in
// crl_dir if it is set. The error says why, in OpenSSL's words.
absl::Status VerifyChain(const std::vector<X509Ptr>& chain, const std::vector<X509Ptr>& roots,
                         const std::string& crl_dir, absl::Time now) {
  X509StorePtr store(X509_STORE_new());
  for (const auto& root : roots) X509_STORE_add_cert(store.get(), root.get());
  if (!crl_dir.empty()) {
    auto crls = ReadCrls(crl_dir);
    if (!crls.ok()) return crls.status();
    for (const auto& crl : *crls) X509_STORE_add_crl(store.get(), crl.get());
    if (!crls->empty()) X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  X509StackPtr intermediates(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(intermediates.get(), chain[i].get());
  }
  X509StoreCtxPtr context(X509_STORE_CTX_new());
  X509_STORE_CTX_init(context.get(), store.get(), chain.front().get(), intermediates.get());
  X509_STORE_CTX_set_time(context.get(), 0, absl::ToTimeT(now));
  X509_STORE_CTX_set_purpose(context.get(), X509_PURPOSE_SSL_SERVER);
  if (X509_verify_cert(context.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(context.get());
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat(X509_verify_cert_error_string(error),
                     crl_dir.empty() ? "" : absl::StrCat(" (CRLs from ", crl_dir, ")")));
  }
  return absl::OkStatus();
}

// CheckTlsFiles on the files' texts.
absl::StatusOr<CertificateInfo> CheckTlsTexts(const TlsFiles& files, const std::string& cert_text,
                                              const std::string& key_text,
                                              const std::string& ca_text, absl::Time now) {
  const std::string cert_label = absl::StrCat("--tls-cert ", QuoteForMessage(files.cert));
  const std::string ca_label = absl::StrCat("--tls-ca ", QuoteForMessage(files.ca));

  auto chain = ReadCertificates(cert_text, cert_label);
  if (!chain.ok()) return chain.status();
  auto roots = ReadCertificates(ca_text, ca_label);
  if (!roots.ok()) return roots.status();
  BioPtr key_bio(BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(absl::StrCat("--tls-key ", QuoteForMessage(files.key),
                                                   " holds no PEM private key: ", OpenSslError()));
  }
  X509* leaf = chain->front().get();
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("the key in --tls-key ", QuoteForMessage(files.key),
                     " does not belong to the certificate in ", cert_label));
  }

  if (auto s = VerifyChain(*chain, *roots, files.crl_dir, now); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        cert_label, " is not accepted by the network CA in ", ca_label, ": ", s.message()));
  }
  auto info = Inspect(leaf, cert_label);
  if (!info.ok()) return info.status();
  if (!IsCanonicalUuid(info->organization_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        cert_label, " does not name an organisation: it needs a URI subject alternative name ",
        kOrganizationUriPrefix, "<organisation UUID> (issue it with `aurora ca issue --org ID`)"));
  }
  return info;
}

}  // namespace

absl::StatusOr<std::string> SignSha256(std::string_view key_pem, std::string_view data) {
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(
        absl::StrCat("signing key: not a PEM private key: ", OpenSslError()));
  }
  MdCtxPtr context(EVP_MD_CTX_new());
  size_t length = 0;
  if (EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError(absl::StrCat("signing: ", OpenSslError()));
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError(absl::StrCat("signing: ", OpenSslError()));
  }
  signature.resize(length);
  return signature;
}

absl::StatusOr<CertificateInfo> VerifySignedBy(const TlsFiles& trust,
                                               std::string_view certificate_pem,
                                               std::string_view required_role,
                                               std::string_view data, std::string_view signature,
                                               absl::Time now) {
  auto chain = ReadCertificates(certificate_pem, "the signer certificate");
  if (!chain.ok()) return chain.status();
  auto ca_text = ReadNamed(trust.ca, "--tls-ca");
  if (!ca_text.ok()) return ca_text.status();
  auto roots = ReadCertificates(*ca_text, absl::StrCat("--tls-ca ", QuoteForMessage(trust.ca)));
  if (!roots.ok()) return roots.status();
  auto info = Inspect(chain->front().get(), "the signer certificate");
  if (!info.ok()) return info.status();
  if (auto s = VerifyChain(*chain, *roots, trust.crl_dir, now); !s.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("the signer certificate (", info->subject,
                                                    ") is not accepted by the network CA: ",
                                                    s.message()));
  }
  if (!required_role.empty() &&
      std::find(info->roles.begin(), info->roles.end(), required_role) == info->roles.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the signer certificate (", info->subject, ") does not carry the role ",
        Sv(required_role), " (URI name ", kRoleUriPrefix, Sv(required_role), ")"));
  }
  EVP_PKEY* key = X509_get0_pubkey(chain->front().get());
  MdCtxPtr context(EVP_MD_CTX_new());
  if (key == nullptr ||
      EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the signer certificate's key cannot verify: ", OpenSslError()));
  }
  if (EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
    ERR_clear_error();
    return absl::PermissionDeniedError(absl::StrCat(
        "the signature does not match the signed data and the key of ", info->subject));
  }
  return info;
}

absl::StatusOr<CertificateInfo> InspectCertificate(std::string_view pem, std::string_view label) {
  auto certs = ReadCertificates(pem, std::string(label));
  if (!certs.ok()) return certs.status();
  return Inspect(certs->front().get(), label);
}

absl::StatusOr<CertificateInfo> CheckTlsFiles(const TlsFiles& files, absl::Time now) {
  auto cert_text = ReadNamed(files.cert, "--tls-cert");
  if (!cert_text.ok()) return cert_text.status();
  auto key_text = ReadNamed(files.key, "--tls-key");
  if (!key_text.ok()) return key_text.status();
  auto ca_text = ReadNamed(files.ca, "--tls-ca");
  if (!ca_text.ok()) return ca_text.status();
  return CheckTlsTexts(files, *cert_text, *key_text, *ca_text, now);
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsFiles& files) {
  grpc::experimental::TlsServerCredentialsOptions options(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<PeerVerifier>(
          std::make_shared<RevocationList>(files), false));
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsFiles& files) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<PeerVerifier>(
          std::make_shared<RevocationList>(files), true));
  return grpc::experimental::TlsCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsOrInsecure(const TlsFiles& files) {
  return files.enabled() ? ChannelCredentials(files) : grpc::InsecureChannelCredentials();
}

std::optional<std::string> PeerOrganization(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) return std::nullopt;
  for (const auto& uri : auth.FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    const std::string_view value(uri.data(), uri.size());
    if (absl::StartsWith(Sv(value), kOrganizationUriPrefix)) {
      std::string id(value.substr(std::strlen(kOrganizationUriPrefix)));
      if (IsCanonicalUuid(id)) return id;
    }
  }
  return std::nullopt;
}

std::optional<std::string> PeerOrganization(const grpc::ServerContextBase& context) {
  const auto auth = context.auth_context();
  if (!auth) return std::nullopt;
  return PeerOrganization(*auth);
}

}  // namespace aurora
