module surge.local/benthos-peer

go 1.22

require github.com/benthosdev/benthos/v4 v4.24.0

// The module proxy refuses inet.af/peercred; nothing the imported components use needs it.
replace inet.af/peercred => ../peercred
