#pragma once
// The directory's text-quality checker, after the national service catalogue's text checker used
// in the AuroraAI programme: given a service, lists findings about its texts and contact details
// (missing languages, a summary over 150 characters, the name repeated in the summary, very long
// sentences, no channels, malformed URLs / e-mail addresses / phone numbers, ...). It never
// rejects: findings are advice for the organisation that maintains the service.
// Pure function; thread-safe.

#include <vector>

#include "aurora/directory/v1/directory.pb.h"

namespace aurora::directory {

// Findings in a stable order: by field path in the order fields appear in Service, then by code.
std::vector<aurora::directory::v1::TextFinding> CheckServiceText(
    const aurora::directory::v1::Service& service);

}  // namespace aurora::directory
