// An empty stand-in for inet.af/peercred, which the module proxy does not serve.
module inet.af/peercred

go 1.22
