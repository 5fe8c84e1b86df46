#pragma once
// Mutual TLS between organisations' nodes. Every node holds a certificate from the network CA
// (`aurora ca`, src/node/network_ca.h) that names its organisation in a URI subject alternative
// name, urn:aurora:org:<organisation id>; a node's gRPC port then accepts only peers with such a
// certificate, and a callee learns the calling organisation from the verified certificate
// (PeerOrganization), never from a header.
//
// Certificates, keys and the CA are read from files and re-read every `refresh` while the node
// runs (gRPC's file-watcher certificate provider), so a renewed certificate takes effect on new
// connections without a restart. A renewed key and certificate are taken together, once they
// belong together and the certificate passes CheckTlsFiles; until then (a renewal that has
// replaced one file of the two, an expired or revoked certificate) the node keeps presenting the
// current one and logs why. After gRPC has verified a peer's chain, our own verifier refuses a
// revoked certificate (against the CRLs in crl_dir as they are at that moment: a revocation
// applies to the next handshake), a certificate that names no organisation, and, on a channel, a
// server certificate that does not name the target host.
//
// Usage:
//   TlsFiles files{.cert = "node.crt", .key = "node.key", .ca = "ca.crt", .crl_dir = "crl",
//                  .refresh = absl::Seconds(60)};
//   absl::StatusOr<CertificateInfo> own = CheckTlsFiles(files);   // clear errors at start-up
//   builder.AddListeningPort(address, ServerCredentials(files));
//   auto channel = grpc::CreateChannel(target, ChannelCredentials(files));

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aurora {

// The URI subject alternative name that carries a node certificate's organisation.
inline constexpr char kOrganizationUriPrefix[] = "urn:aurora:org:";
// URI names urn:aurora:role:<role> give a certificate a role in the network beyond its node's;
// "registry" lets its key sign the directory's registry (network.proto: SignedRegistry).
inline constexpr char kRoleUriPrefix[] = "urn:aurora:role:";
inline constexpr char kRegistryRole[] = "registry";

struct TlsFiles {
  std::string cert;     // PEM: the node's certificate (optionally followed by intermediates)
  std::string key;      // PEM: its private key
  std::string ca;       // PEM: the network CA's certificate(s) that peers must chain to
  std::string crl_dir;  // optional: folder of CRLs named <issuer hash>.r<n> (`aurora ca revoke`)
  absl::Duration refresh = absl::Seconds(60);  // how often the files are re-read
  bool enabled() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

// What a certificate says, as far as the network cares.
struct CertificateInfo {
  std::string organization_id;  // from urn:aurora:org:<id>; empty if the certificate has none
  std::vector<std::string> roles;  // from urn:aurora:role:<role> names, in certificate order
  std::string subject;          // one line, RFC 2253
  std::string serial_hex;       // lowercase hex, no leading zeros
  absl::Time not_before;
  absl::Time not_after;
};

// Parses the first certificate of a PEM text. INVALID_ARGUMENT (naming `label`) if it is not one.
absl::StatusOr<CertificateInfo> InspectCertificate(std::string_view pem, std::string_view label);

// Checks the files the way a handshake would, so that a misconfigured node fails at start-up with
// a message naming the file and the problem instead of failing every handshake later: all three
// exist and parse, the key belongs to the certificate, the certificate chains to the CA, is valid
// at `now`, is not revoked by a CRL in crl_dir, and names an organisation. Returns the node's own
// certificate's facts.
absl::StatusOr<CertificateInfo> CheckTlsFiles(const TlsFiles& files, absl::Time now = absl::Now());

// Server credentials that require and verify a client certificate from the CA, not revoked.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsFiles& files);
// Channel credentials that present the node's certificate and verify the server's against the CA,
// the CRLs and the target's host name (the certificate's DNS / IP names).
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsFiles& files);
// TLS channel credentials when `files` is enabled, insecure ones otherwise.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsOrInsecure(const TlsFiles& files);

// Signs `data` with the PEM private key `key_pem` (an EC key: ECDSA with SHA-256, DER; an RSA key:
// PKCS #1 v1.5 with SHA-256).
absl::StatusOr<std::string> SignSha256(std::string_view key_pem, std::string_view data);

// Checks that `signature` (as SignSha256 makes it) over `data` was made with the key of
// `certificate_pem`, and that this certificate chains to the CA of `trust.ca`, is valid at `now`,
// is not revoked by a CRL in `trust.crl_dir` (if set) and carries the role `required_role` (if
// not empty). Returns the signer's facts; otherwise an error saying which check failed
// (PERMISSION_DENIED for a signature or role that does not hold, INVALID_ARGUMENT for
// unparseable input).
absl::StatusOr<CertificateInfo> VerifySignedBy(const TlsFiles& trust,
                                               std::string_view certificate_pem,
                                               std::string_view required_role,
                                               std::string_view data, std::string_view signature,
                                               absl::Time now = absl::Now());

// The organisation of the peer of a call or channel that came over mutual TLS: the id in the
// verified certificate's urn:aurora:org: name. nullopt for plaintext or in-process calls.
std::optional<std::string> PeerOrganization(const grpc::AuthContext& auth);
std::optional<std::string> PeerOrganization(const grpc::ServerContextBase& context);

}  // namespace aurora
