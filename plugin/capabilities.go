package plugin

import "slices"

// Capabilities a manifest may declare. A host call that needs one the
// plugin did not declare fails with ErrCapability (docs/protocol.md).
const (
	CapStorageKV           = "storage:kv"            // kv.*
	CapStorageSQL          = "storage:sql"           // sql.*
	CapMetricsWrite        = "metrics:write"         // metrics.increment
	CapDiscordSendMessages = "discord:send_messages" // send/edit/delete messages, reactions
	CapDiscordManageRoles  = "discord:manage_roles"  // add/remove roles
	CapDiscordReadMembers  = "discord:read_members"  // discord.get_member
)

// KnownCapabilities lists every capability in documentation order. Do not
// modify it.
var KnownCapabilities = []string{
	CapStorageKV,
	CapStorageSQL,
	CapMetricsWrite,
	CapDiscordSendMessages,
	CapDiscordManageRoles,
	CapDiscordReadMembers,
}

// IsKnownCapability reports whether c is one of KnownCapabilities.
func IsKnownCapability(c string) bool {
	return slices.Contains(KnownCapabilities, c)
}

// Has reports whether the manifest declares capability c.
func (m *Manifest) Has(c string) bool {
	return m != nil && slices.Contains(m.Capabilities, c)
}
