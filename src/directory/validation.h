#pragma once
// Validation of every directory input, with the rules written in directory.proto. Each function
// returns OK or INVALID_ARGUMENT whose message names the field path and the offending value, e.g.
// `service.municipality_codes[2]: unknown municipality code "999"`. Pure; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aurora/common/v1/common.pb.h"
#include "aurora/directory/v1/directory.pb.h"
#include "aurora/network/v1/network.pb.h"
#include "common/codelists.h"

namespace aurora::directory {

// Text limits in Unicode code points.
inline constexpr size_t kMaxNameLength = 200;
inline constexpr size_t kMaxSummaryLength = 1000;
inline constexpr size_t kMaxLongTextLength = 10000;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultPageSize = 50;

// A required canonical UUID.
absl::Status ValidateUuid(std::string_view value, std::string_view field);
// An optional canonical UUID (empty is fine).
absl::Status ValidateOptionalUuid(std::string_view value, std::string_view field);

absl::Status ValidateOrganization(const v1::Organization& organization, const CodeLists& codes,
                                  std::string_view path = "organization");
absl::Status ValidateDisplayName(std::string_view name, std::string_view field);
// `service.id` may be empty (assigned on creation) when `id_required` is false.
absl::Status ValidateService(const v1::Service& service, const CodeLists& codes, bool id_required,
                             std::string_view path = "service");
absl::Status ValidateAreaFilter(const aurora::common::v1::AreaFilter& area, const CodeLists& codes,
                                std::string_view path = "area");
// Returns the effective page size (default applied) or INVALID_ARGUMENT.
absl::StatusOr<int> ValidatePageSize(const aurora::common::v1::PageRequest& page,
                                     std::string_view path = "page");
// Filters of ListServices (codes known, ids canonical, languages well-formed).
absl::Status ValidateListServicesRequest(const v1::ListServicesRequest& request,
                                         const CodeLists& codes);

// The network registry (network.proto). ValidateNetworkService checks every field a publisher
// sets and returns the service's methods, in declaration order, from its descriptor set.
inline constexpr size_t kMaxDescriptorSetBytes = 4 << 20;
inline constexpr int kMaxAllowedOrganizations = 1000;
absl::StatusOr<std::vector<std::string>> ValidateNetworkService(
    const network::v1::NetworkService& service, std::string_view path = "service");
// host:port as other nodes dial it (empty is fine: no node).
absl::Status ValidateNodeAddress(std::string_view address, std::string_view field);

// True for a valid Finnish business id ("Y-tunnus") with a correct check digit.
bool IsValidBusinessId(std::string_view value);

}  // namespace aurora::directory
