package sim

import "strconv"

// Hashes (hash_visura) of the default catalog, as in the API description's example.
const (
	HashISEE                   = "6aa0789f5ba34684b2bc5ccf364f8929"
	HashISEECorrente           = "57c24ad72bd57ba4d796622504086e02"
	HashRettificaISEE          = "ec76981f4a38a771af76b64af93a109b"
	HashISEESocioSanitario     = "917a50a70cf6df1d161600168bba5222"
	HashNASPI                  = "61987f81efc1a1cdde3ba0f8f48a3aaa"
	HashDimissioniVolontarie   = "232489febe7e589192ac50dee2a05a56"
	HashCalcoloPensione        = "1f9dfd7e9a73918756470d9618fb317d"
	Hash730Singolo             = "38934ffe45179c4d5b88e2a6b849799a"
	HashVisuraCameraleCapitale = "eccbc87e4b5ce2fe28308fd9f2a7baf3"
)

// ISEE's validazione: every field, or every field but the optional mandate ($7).
const iseeValidation = "($0 && $1 && $2 && $3 && $4 && $5 && $6 && $7) || ($0 && $1 && $2 && $3 && $4 && $5 && $6)"

// DefaultCatalog returns the fixtures served when Config.Catalog is nil: eight
// Patronato services (ISEE and friends, NASPI, DIMISSIONI VOLONTARIE, Calcolo e
// Previsione Pensione, 730 Singolo) and one Camerali service, exactly as the
// API description's example shows it. Each call returns fresh slices.
func DefaultCatalog() []Service {
	return []Service{
		iseeService("ISEE", HashISEE, 12, urgency(), "_rib_pat_Isee",
			"<p>Per richiedere l'<strong>ISEE ordinario</strong> inserisci i dati del dichiarante e allega copia del documento d'identit&agrave; e del codice fiscale. La delega (mandato) firmata &egrave; facoltativa se gi&agrave; depositata.</p>"),
		iseeService("ISEE CORRENTE", HashISEECorrente, 15, urgency(), "_rib_pat_IseeCorrente",
			"<p>L'<strong>ISEE corrente</strong> aggiorna l'ISEE ordinario dopo una variazione della situazione lavorativa o reddituale. Pu&ograve; richiederlo solo chi ha gi&agrave; presentato una richiesta ISEE tramite lo stesso fornitore.</p>"),
		iseeService("Rettifica ISEE", HashRettificaISEE, 10, nil, "_rib_pat_RettificaIsee",
			"<p>La <strong>rettifica ISEE</strong> corregge una DSU gi&agrave; presentata tramite lo stesso fornitore. Allega i documenti del dichiarante.</p>"),
		iseeService("ISEE SOCIO SANITARIO A CICLO CONTINUO", HashISEESocioSanitario, 14, urgency(), "_rib_pat_IseeSocioSanitario",
			"<p>L'<strong>ISEE socio sanitario per prestazioni a ciclo continuo</strong> serve per il ricovero in strutture residenziali (RSA). Inserisci i dati del beneficiario.</p>"),
		naspiService(),
		dimissioniService(),
		pensioneService(),
		service730(),
		cameraleService(),
	}
}

func urgency() []Option {
	return []Option{{Type: "urgenza", Price: 4, Name: "opzione_0"}}
}

// personFields are the fields shared by ISEE and 730 Singolo: the declarant,
// copies of the ID document and of the tax code, and an optional mandate.
func personFields() []Field {
	return []Field{
		{Name: "Nome *", Type: "testo", Order: "0", Instructions: "Inserire il nome del dichiarante"},
		{Name: "Cognome *", Type: "testo", Order: "1", Instructions: "Inserire il cognome del dichiarante"},
		{Name: "Email *", Type: "email", Order: "2", Instructions: "Inserire l'indirizzo email del dichiarante"},
		{Name: "Telefono *", Type: "testo", Order: "3", Instructions: "Inserire un recapito telefonico del dichiarante"},
		{Name: "Codice Fiscale *", Type: "codice_fiscale_persona_fisica", Order: "4", Instructions: "Inserire il codice fiscale del dichiarante"},
		{Name: "Copia documento d'identità *", Type: "file", Order: "5", Instructions: "Allegare copia fronte/retro di un documento d'identità in corso di validità (PDF o immagine)"},
		{Name: "Copia codice fiscale *", Type: "file", Order: "6", Instructions: "Allegare copia della tessera sanitaria o del codice fiscale"},
		{Name: "Copia delega (mandato)", Type: "file", Optional: true, NullAsString: true, Order: "7", Instructions: "Allegare la delega (mandato) firmata al CAF/Patronato, se già disponibile"},
	}
}

func iseeService(name, hash string, price float64, options []Option, handler, html string) Service {
	return Service{
		Name: name, Category: "Patronato", Hash: hash, Price: price, Options: options,
		Fields: personFields(), Validation: iseeValidation, Instructions: html, Handler: handler,
	}
}

func service730() Service {
	return Service{
		Name: "730 Singolo", Category: "Patronato", Hash: Hash730Singolo, Price: 39,
		Fields: personFields(), Validation: iseeValidation, Handler: "_rib_pat_730",
		Instructions: "<p>Per il <strong>modello 730 singolo</strong> inserisci i dati del contribuente e allega i documenti richiesti. Un operatore CAF ti contatter&agrave; per le spese detraibili.</p>",
	}
}

// naspiService sends every null as a "0"/"1" string.
func naspiService() Service {
	f := []Field{
		{Name: "Nome *", Type: "testo", Instructions: "Inserire il nome del richiedente"},
		{Name: "Cognome *", Type: "testo", Instructions: "Inserire il cognome del richiedente"},
		{Name: "Email *", Type: "email", Instructions: "Inserire l'indirizzo email del richiedente"},
		{Name: "Telefono *", Type: "testo", Instructions: "Inserire un recapito telefonico"},
		{Name: "Codice Fiscale *", Type: "codice_fiscale_persona_fisica", Instructions: "Inserire il codice fiscale del richiedente"},
		{Name: "Data cessazione rapporto di lavoro *", Type: "data_iso8601", Instructions: "Data di fine del rapporto di lavoro (gg-mm-aaaa)"},
		{Name: "Codice fiscale o partita IVA del datore di lavoro *", Type: "codice_fiscale", Instructions: "Codice fiscale o partita IVA dell'ultimo datore di lavoro"},
		{Name: "IBAN *", Type: "testo", Instructions: "IBAN del conto intestato o cointestato al richiedente"},
		{Name: "Copia documento d'identità *", Type: "file", Instructions: "Allegare copia di un documento d'identità in corso di validità"},
		{Name: "Lettera di licenziamento", Type: "file", Optional: true, Instructions: "Allegare la lettera di licenziamento o la comunicazione di fine rapporto, se disponibile"},
		{Name: "Copia delega (mandato)", Type: "file", Optional: true, Instructions: "Allegare la delega (mandato) firmata al Patronato, se già disponibile"},
	}
	for i := range f {
		f[i].NullAsString = true
		f[i].Order = strconv.Itoa(i)
	}
	return Service{
		Name: "NASPI", Category: "Patronato", Hash: HashNASPI, Price: 25, Options: urgency(),
		Fields: f, Validation: "$0 && $1 && $2 && $3 && $4 && $5 && $6 && $7 && $8", Handler: "_rib_pat_Naspi",
		Instructions: "<p>La <strong>NASpI</strong> va richiesta entro 68 giorni dalla cessazione del rapporto di lavoro. Inserisci i dati del richiedente e l'IBAN per l'accredito.</p>",
	}
}

func dimissioniService() Service {
	f := []Field{
		{Name: "Nome *", Type: "testo", Order: "0", Instructions: "Inserire il nome del lavoratore"},
		{Name: "Cognome *", Type: "testo", Order: "1", Instructions: "Inserire il cognome del lavoratore"},
		{Name: "Email *", Type: "email", Order: "2", Instructions: "Inserire l'indirizzo email del lavoratore"},
		{Name: "Telefono *", Type: "testo", Order: "3", Instructions: "Inserire un recapito telefonico"},
		{Name: "Codice Fiscale *", Type: "codice_fiscale_persona_fisica", Order: "4", Instructions: "Inserire il codice fiscale del lavoratore"},
		{Name: "Codice fiscale datore di lavoro *", Type: "codice_fiscale", Order: "5", Instructions: "Codice fiscale o partita IVA del datore di lavoro"},
		{Name: "Data di decorrenza *", Type: "data_iso8601", Order: "6", Instructions: "Data di decorrenza delle dimissioni (gg-mm-aaaa)"},
		{Name: "Tipo di comunicazione *", Type: "testo", Order: "7", Instructions: "Scegliere il tipo di comunicazione", Choices: "Dimissioni volontarie|Risoluzione consensuale|Revoca"},
		{Name: "Copia documento d'identità *", Type: "file", Order: "8", Instructions: "Allegare copia di un documento d'identità in corso di validità"},
		{Name: "Copia delega (mandato)", Type: "file", Optional: true, Order: "9", Instructions: "Allegare la delega (mandato) firmata al Patronato, se già disponibile"},
	}
	return Service{
		Name: "DIMISSIONI VOLONTARIE", Category: "Patronato", Hash: HashDimissioniVolontarie, Price: 19.9,
		Fields: f, Validation: "$0 && $1 && $2 && $3 && $4 && $5 && $6 && $7 && $8", Handler: "_rib_pat_Dimissioni",
		Instructions: "<p>Le <strong>dimissioni volontarie</strong> si presentano solo in via telematica. Un operatore del Patronato invier&agrave; la comunicazione al Ministero del Lavoro.</p>",
	}
}

// pensioneService has indexes past $9, mixed "0"/"1" nulls, dates and place codes.
func pensioneService() Service {
	f := []Field{
		{Name: "Nome *", Type: "testo", Instructions: "Inserire il nome dell'assicurato"},
		{Name: "Cognome *", Type: "testo", Instructions: "Inserire il cognome dell'assicurato"},
		{Name: "Email *", Type: "email", Instructions: "Inserire l'indirizzo email dell'assicurato"},
		{Name: "Telefono *", Type: "testo", Instructions: "Inserire un recapito telefonico"},
		{Name: "Codice Fiscale *", Type: "codice_fiscale_persona_fisica", Instructions: "Inserire il codice fiscale dell'assicurato"},
		{Name: "Data di nascita *", Type: "data_iso8601", Instructions: "Data di nascita (gg-mm-aaaa)"},
		{Name: "Comune di nascita *", Type: "cod_comune", Instructions: "Codice catastale del comune di nascita (es. H501)"},
		{Name: "Provincia di residenza *", Type: "cod_provincia", Instructions: "Sigla della provincia di residenza (es. RM)"},
		{Name: "Data inizio attività lavorativa *", Type: "data_iso8601", Instructions: "Data del primo rapporto di lavoro (gg-mm-aaaa)"},
		{Name: "Gestione previdenziale *", Type: "testo", Instructions: "Scegliere la gestione", Choices: "Dipendente privato|Dipendente pubblico|Artigiano/Commerciante|Gestione separata"},
		{Name: "Estratto conto contributivo", Type: "file", Optional: true, Instructions: "Allegare l'estratto conto contributivo INPS, se disponibile"},
		{Name: "Copia documento d'identità *", Type: "file", Instructions: "Allegare copia di un documento d'identità in corso di validità"},
		{Name: "Copia delega (mandato)", Type: "file", Optional: true, Instructions: "Allegare la delega (mandato) firmata al Patronato, se già disponibile"},
	}
	for i := range f {
		f[i].NullAsString = i >= 10
		f[i].Order = strconv.Itoa(i)
	}
	return Service{
		Name: "Calcolo e Previsione Pensione", Category: "Patronato", Hash: HashCalcoloPensione, Price: 35,
		Options: urgency(), Fields: f, Handler: "_rib_pat_Pensione",
		Validation:   "($0 && $1 && $2 && $3 && $4 && $5 && $6 && $7 && $8 && $9 && $11) || ($0 && $1 && $2 && $3 && $4 && $10 && $11)",
		Instructions: "<p>Il <strong>calcolo e previsione della pensione</strong> stima la data di accesso e l'importo. Con l'estratto conto contributivo bastano i dati anagrafici essenziali.</p>",
	}
}

// cameraleService is the API description's own example, field for field
// (including the missing "ordine" of $0).
func cameraleService() Service {
	return Service{
		Name: "Visura Camerale Ordinaria - società di Capitale", Category: "Camerali",
		Hash: HashVisuraCameraleCapitale, Price: 4.9, Handler: "_rib_cam_Ordinaria",
		Fields: []Field{
			{Name: "NRea", Type: "denominazione", Instructions: "Inserire il Numero di Rea dell'azienda"},
			{Name: "Cciaa", Type: "denominazione", Instructions: "Inserire la Cciaa dell'Azienda", Order: "1"},
		},
		Validation:   "$0 && $1  ",
		Instructions: "<p>Per richiedere la Visura Camerale Ordinaria - Societ&agrave; di Capitale inserisci i seguenti dati:&nbsp;&nbsp;<strong>Nrea</strong>&nbsp;e <strong>Cciaa</strong></p>\r\n",
	}
}
