#pragma once
// The network CA behind `aurora ca`: the root every member node's certificate chains to, node
// certificates that name their organisation (URI SAN urn:aurora:org:<id>, see common/tls.h), and
// revocation through a CRL that nodes read from --tls-crl-dir.
//
// A CA folder holds:
//   ca.key          the root's private key (EC P-256, PEM, mode 0600): keep it offline
//   ca.crt          the root certificate (PEM): give it to every node as --tls-ca
//   issued.tsv      one line per certificate issued: serial, organisation, not-after, subject
//   revoked.tsv     one line per revocation: serial, revocation time (Unix seconds)
//   crl/<hash>.r0   the current CRL (PEM), named for OpenSSL's hashed-folder lookup: give the
//                   crl/ folder to every node as --tls-crl-dir
//
// Usage:
//   RETURN_IF_ERROR(InitNetworkCa({.dir = "ca", .name = "Aurora test network"}));
//   NodeCertificateRequest request;
//   request.ca_dir = "ca"; request.organization_id = org; request.out_dir = "org-a";
//   absl::StatusOr<CertificateInfo> issued = IssueNodeCertificate(request);
//   absl::StatusOr<CertificateInfo> revoked = RevokeCertificate("ca", "org-a/node.crt");

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls.h"

namespace aurora::node {

struct CaInitOptions {
  std::string dir;
  std::string name = "Aurora Network CA";  // the root's common name
  int days = 3650;
  absl::Time now = absl::Now();
};

// Makes the folder (it must not hold a CA yet) with a new root key, certificate and empty CRL.
absl::StatusOr<CertificateInfo> InitNetworkCa(const CaInitOptions& options);

struct NodeCertificateRequest {
  std::string ca_dir;
  std::string organization_id;  // a canonical UUID, as the directory assigns them
  // Names the node is reached by (checked by connecting nodes against the target's host); at
  // least one name or address. Default: localhost and 127.0.0.1.
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1"};
  // Roles beyond a member node's (common/tls.h: kRoleUriPrefix), e.g. kRegistryRole for the
  // directory that signs the registry. Each is lowercase letters and hyphens.
  std::vector<std::string> roles;
  int days = 365;
  std::string out_dir;  // receives node.key (0600), node.crt and ca.crt; made if missing
  absl::Time now = absl::Now();
};

// Issues a node certificate (EC P-256 key made here, serverAuth + clientAuth) signed by the root.
// Replaces node.key and node.crt in out_dir atomically, so a running node picks up the renewal.
absl::StatusOr<CertificateInfo> IssueNodeCertificate(const NodeCertificateRequest& request);

// Revokes the certificate (a PEM file, or its serial in hex as printed by `aurora ca issue`) and
// rewrites the CRL. Revoking a serial twice is not an error.
absl::StatusOr<std::string> RevokeCertificate(const std::string& ca_dir,
                                              const std::string& cert_file_or_serial,
                                              absl::Time now = absl::Now());

// Re-signs the CRL with fresh dates (it is valid for 90 days; nodes refuse every peer once it has
// expired). Returns its path.
absl::StatusOr<std::string> RefreshCrl(const std::string& ca_dir, absl::Time now = absl::Now());

// The path of the CRL file that RevokeCertificate and InitNetworkCa write.
absl::StatusOr<std::string> CrlPath(const std::string& ca_dir);

}  // namespace aurora::node
