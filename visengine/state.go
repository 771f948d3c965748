package visengine

import "strings"

// Request states (stato_richiesta) as the API spells them.
const (
	StateSearching  = "In ricerca"       // in_ricerca
	StateInProgress = "In erogazione"    // in_erogazione
	StateDataReady  = "Dati disponibili" // dati_disponibili: the document can be downloaded
	StateFulfilled  = "Visura evasa"     // visura_evasa: final success
	StateCancelled  = "Annullata"        // annullata: final failure
)

// PublishedState reports whether s is one of the states the API publishes,
// as it spells them. Any other stato_richiesta is the upstream's free text,
// which may name the person: it is kept out of what names no personal data
// (iseed watch's lines) and scrubbed from old records.
func PublishedState(s string) bool {
	switch s {
	case StateSearching, StateInProgress, StateDataReady, StateFulfilled, StateCancelled:
		return true
	}
	return false
}

// NormalizeState returns the State constant that s spells in another case,
// with other spacing or with underscores ("visura evasa", " Visura  Evasa ",
// "DATI DISPONIBILI", "visura_evasa"); any other s is returned trimmed.
// Decoded requests and summaries carry normalised states already.
func NormalizeState(s string) string {
	t := strings.TrimSpace(s)
	key := strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(t, "_", " ")), " "))
	switch key {
	case "in ricerca":
		return StateSearching
	case "in erogazione":
		return StateInProgress
	case "dati disponibili":
		return StateDataReady
	case "visura evasa":
		return StateFulfilled
	case "annullata":
		return StateCancelled
	}
	return t
}
