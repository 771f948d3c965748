package sim

import "fmt"

// Profile chooses how closely the simulator follows the published examples
// where they are less convenient than a friendly sandbox. It implements
// encoding.TextMarshaler and TextUnmarshaler, so a flag (flag.TextVar) or
// an environment variable (envconfig) can hold it.
type Profile string

// The profiles.
const (
	// ProfileFriendly is the default: the request answers echo their input
	// (ricerche[0].json_ricerca), malformed ids get 400 (201 on
	// /richiesta/{id}, 243 on /documento/{id}) and the optional mandate
	// ($7) says "null": "1".
	ProfileFriendly Profile = "friendly"
	// ProfilePublished answers exactly as the published examples do, and is
	// never kinder: "ricerche": [] on Patronato services (the ISEE product
	// page's POST answer), 404/202 and 404/244 for ids that are not 24 hex
	// digits (the OpenAPI examples' 404s show such ids), and the mandate
	// ($7) of the person-field services "null": false while validazione
	// still lets it be left out (the published 730 schema). Its documents
	// differ by state, as Patronato services deliver them (the DSU receipt
	// at Dati disponibili, the certificate at Visura evasa), and are sent
	// as the published example is: unpadded base64, with a dimensione that
	// is not the size of the bytes sent.
	ProfilePublished Profile = "published"
)

// String returns the profile's name; "" is ProfileFriendly.
func (p Profile) String() string {
	if p == "" {
		return string(ProfileFriendly)
	}
	return string(p)
}

// MarshalText implements encoding.TextMarshaler.
func (p Profile) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: "friendly",
// "published", or "" for the default.
func (p *Profile) UnmarshalText(b []byte) error {
	switch v := Profile(b); v {
	case "", ProfileFriendly, ProfilePublished:
		*p = v
		return nil
	}
	return fmt.Errorf("unknown simulator profile %q: want %q or %q", b, ProfileFriendly, ProfilePublished)
}

// Echo says what the answers about one request echo of its input in
// ricerche[0] (json_ricerca, json_mappato). It implements
// encoding.TextMarshaler and TextUnmarshaler.
type Echo string

// The echo modes; "" means the profile's default: EchoValues for
// ProfileFriendly, EchoNone for ProfilePublished.
const (
	// EchoNone answers "ricerche": [] on Patronato services, as the ISEE
	// product page shows; other services still echo their values.
	EchoNone Echo = "none"
	// EchoValues echoes every value, the payload of inline files elided
	// ("name|data:mime;base64,").
	EchoValues Echo = "values"
	// EchoFiles echoes every value whole, inline files included: answers as
	// large as the files sent. The simulator then keeps every file in memory.
	EchoFiles Echo = "files"
)

// String returns the mode's name; "" stands for the profile's default.
func (e Echo) String() string { return string(e) }

// MarshalText implements encoding.TextMarshaler.
func (e Echo) MarshalText() ([]byte, error) { return []byte(e), nil }

// UnmarshalText implements encoding.TextUnmarshaler: "none", "values",
// "files", or "" for the profile's default.
func (e *Echo) UnmarshalText(b []byte) error {
	switch v := Echo(b); v {
	case "", EchoNone, EchoValues, EchoFiles:
		*e = v
		return nil
	}
	return fmt.Errorf("unknown echo mode %q: want %q, %q or %q", b, EchoNone, EchoValues, EchoFiles)
}

// Resolve returns the mode a Server configured with e and p uses: e, or
// the profile's default when e is "".
func (e Echo) Resolve(p Profile) Echo {
	switch {
	case e != "":
		return e
	case p == ProfilePublished:
		return EchoNone
	default:
		return EchoValues
	}
}

// echoes reports whether a request of svc shows its input under mode e.
func (e Echo) echoes(svc *service) bool {
	return e != EchoNone || svc.Category != categoryPatronato
}

const categoryPatronato = "Patronato"

// PublishedCatalog returns DefaultCatalog as ProfilePublished serves it:
// the mandate ($7) of the person-field services (the ISEE services and
// 730 Singolo) is "null": false, as in the published 730 schema, while
// validazione still accepts a request without it.
func PublishedCatalog() []Service {
	services := DefaultCatalog()
	for i, svc := range services {
		if svc.Validation != iseeValidation {
			continue
		}
		f := &services[i].Fields[7]
		f.Optional, f.NullAsString = false, false
	}
	return services
}

// catalogFor returns the default catalog of a profile.
func catalogFor(p Profile) []Service {
	if p == ProfilePublished {
		return PublishedCatalog()
	}
	return DefaultCatalog()
}
