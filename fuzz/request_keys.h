#pragma once
// The JSON field names of tailcfg's RegisterRequest and MapRequest (and the Hostinfo inside
// them) that the two request fuzz targets hand to the structure-aware mutator.

#include <string_view>

namespace keel::fuzz {

inline constexpr std::string_view kRequestKeys[] = {
    "Version", "NodeKey", "OldNodeKey", "Auth", "AuthKey", "Provider", "LoginName", "Oauth2Token",
    "Expiry", "Followup", "Hostinfo", "Ephemeral", "NodeKeySignature", "Signature", "Timestamp",
    "DiscoKey", "Endpoints", "EndpointTypes", "Stream", "OmitPeers", "KeepAlive", "ReadOnly",
    "Compress", "DebugFlags", "TKAHead", "Hostname", "OS", "OSVersion", "IPNVersion",
    "FrontendLogID", "BackendLogID", "RequestTags", "RoutableIPs", "Services", "NetInfo",
    "PreferredDERP", "DERPLatency", "MappingVariesByDestIP", "WorkingUDP", "GoArch", "Machine",
    "ShieldsUp", "AppConnector", "Userspace", "Distro", "Cloud", "SSH_HostKeys", "Location",
};

}  // namespace keel::fuzz
