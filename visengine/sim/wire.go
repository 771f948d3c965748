package sim

import (
	"encoding/json"
	"time"
)

// richiestaWire is a request as the API sends it (Richiesta), in the
// examples' key order.
type richiestaWire struct {
	ID                  string          `json:"_id"`
	State               int             `json:"state"`
	HashVisura          string          `json:"hash_visura"`
	Nome                string          `json:"nome"`
	Callback            string          `json:"callback"`
	Ricerca             bool            `json:"ricerca"`
	IDRicerca           *string         `json:"id_ricerca"`    // always null: no search flow
	PrezzoVisura        any             `json:"prezzo_visura"` // float64; a string under the PHP scalars fault
	PrezzoRicerca       any             `json:"prezzo_ricerca"`
	IndiceRicerca       *int            `json:"indice_ricerca"` // always null
	StatoRichiesta      string          `json:"stato_richiesta"`
	EmailTarget         *string         `json:"email_target"`
	Allegati            any             `json:"allegati"` // []string; an object under the object-lists fault
	TimestampCreation   int64           `json:"timestamp_creation"`
	TimestampLastUpdate int64           `json:"timestamp_last_update"`
	TimestampStati      stampsWire      `json:"timestamp_stati"`
	CallbackData        json.RawMessage `json:"callback_data"` // false when none
	Opzioni             any             `json:"opzioni"`       // []Option, null when none chosen
	Owner               string          `json:"owner"`
	Sincrona            bool            `json:"sincrona"`
	Ricerche            any             `json:"ricerche"` // []ricercaWire
	Esito               esitoWire       `json:"esito"`
	Motivo              string          `json:"motivo_annullamento,omitempty"`
}

// summaryWire is one entry of GET /richiesta (Richieste).
type summaryWire struct {
	ID                  string  `json:"_id"`
	State               int     `json:"state"`
	HashVisura          string  `json:"hash_visura"`
	Nome                string  `json:"nome"`
	Ricerca             bool    `json:"ricerca"`
	IDRicerca           *string `json:"id_ricerca"`
	PrezzoVisura        any     `json:"prezzo_visura"`
	PrezzoRicerca       any     `json:"prezzo_ricerca"`
	IndiceRicerca       *int    `json:"indice_ricerca"`
	StatoRichiesta      string  `json:"stato_richiesta"`
	EmailTarget         *string `json:"email_target"`
	TimestampCreation   int64   `json:"timestamp_creation"`
	TimestampLastUpdate int64   `json:"timestamp_last_update"`
	Owner               string  `json:"owner"`
	Sincrona            bool    `json:"sincrona"`
}

func (w *richiestaWire) summary() summaryWire {
	return summaryWire{
		ID: w.ID, State: w.State, HashVisura: w.HashVisura, Nome: w.Nome, Ricerca: w.Ricerca,
		PrezzoVisura: w.PrezzoVisura, PrezzoRicerca: w.PrezzoRicerca, StatoRichiesta: w.StatoRichiesta,
		EmailTarget: w.EmailTarget, TimestampCreation: w.TimestampCreation,
		TimestampLastUpdate: w.TimestampLastUpdate, Owner: w.Owner, Sincrona: w.Sincrona,
	}
}

// stampsWire is timestamp_stati: one key per state reached, in lifecycle order.
type stampsWire struct {
	InRicerca       int64 `json:"in_ricerca,omitempty"`
	InErogazione    int64 `json:"in_erogazione,omitempty"`
	DatiDisponibili int64 `json:"dati_disponibili,omitempty"`
	VisuraEvasa     int64 `json:"visura_evasa,omitempty"`
	Annullata       int64 `json:"annullata,omitempty"`
}

func stampsOf(reached timeline) stampsWire {
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	}
	return stampsWire{
		InRicerca: unix(reached[phSearching]), InErogazione: unix(reached[phInProgress]),
		DatiDisponibili: unix(reached[phDataReady]), VisuraEvasa: unix(reached[phFulfilled]),
		Annullata: unix(reached[phCancelled]),
	}
}

// ricercaWire is one search of a request (Ricerca).
type ricercaWire struct {
	IDRicerca     string          `json:"id_ricerca"`
	StatoRicerca  string          `json:"stato_ricerca"`
	JSONRicerca   string          `json:"json_ricerca"` // a JSON document in a string
	JSONMappato   json.RawMessage `json:"json_mappato"`
	JSONRisultato *string         `json:"json_risultato"` // always null
}

// esitoWire is the outcome; Codice is a string, "0" on success.
type esitoWire struct {
	Codice string `json:"codice"`
	Info   string `json:"info"`
}

// documentWire is GET /documento/{id}'s data (Allegato).
type documentWire struct {
	Nome       string `json:"nome"`
	Dimensione any    `json:"dimensione"` // int; a string under the PHP scalars fault
	File       any    `json:"file"`       // []byte (standard base64), or a string (unpadded, under ProfilePublished)
}
