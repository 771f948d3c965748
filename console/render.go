package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/iseed-dev/iseed/internal/shown"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/overview"
)

// files are the templates and the stylesheet. (embed needs a package
// variable; nothing writes it.)
//
//go:embed templates static
var files embed.FS

// style serves the stylesheet, the one static file, as it is embedded.
// Not http.FileServer: the answers it writes on its own (the 404 of a
// name it does not have, the 416 of a range past the end) pass through
// net/http's serveError, which removes the Cache-Control that Secure set,
// and so went out cacheable.
func style(w http.ResponseWriter, _ *http.Request) {
	b, err := files.ReadFile("static/style.css")
	if err != nil {
		http.Error(w, "no stylesheet", http.StatusInternalServerError) // embedded: cannot happen
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(b)
}

// pages are the parsed templates, one per page, each with the layout.
type pages struct{ byName map[string]*template.Template }

// pageNames are the templates/<name>.html that are pages.
func pageNames() []string {
	return []string{"overview", "open", "submission", "deadletters", "deadletter", "confirm", "cancelheld", "spend", "login", "error"}
}

func parsePages() (*pages, error) {
	funcs := template.FuncMap{
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"age":   overview.Age,
		"eur":   func(v float64) string { return fmt.Sprintf("€ %.2f", v) },
		"cents": func(v money.Cents) string { return "€ " + v.String() },
		"since": func(now, t time.Time) string { return overview.Age(now.Sub(t)) },
		"add":   func(a, b int) int { return a + b },
	}
	p := &pages{byName: make(map[string]*template.Template)}
	for _, name := range pageNames() {
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// view is what the layout needs beside a page's own data.
type view struct {
	Title    string
	Nav      string // the page's menu entry
	ReadOnly bool   // no token configured
	Operator bool   // may replay and reveal
	LoggedIn bool   // with a session cookie (a logout button)
	CSRF     string
	Now      time.Time
	Data     any
}

// render writes page name with data, or a plain error when it fails.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	v := view{Title: title, Nav: name, ReadOnly: c.ReadOnly(), Operator: c.operatorOf(r),
		LoggedIn: identityOf(r) == session, CSRF: c.auth.csrf(r), Now: c.cfg.Now().UTC(), Data: data}
	var b bytes.Buffer
	if err := c.pages.byName[name].ExecuteTemplate(&b, "layout", v); err != nil {
		c.log.Error().Err(err).Str("page", name).Msg("console: cannot render")
		http.Error(w, "the page cannot be shown; see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(visible(b.Bytes()))
}

// visible is a rendered page with every character that is not shown as
// itself (strconv.IsPrint: bidi embeddings, overrides, isolates and marks,
// C0 and C1 controls, zero-width characters), but for tabs and line
// breaks, written as the text \uXXXX, as iseed's JSON output writes it.
// HTML escaping leaves them, and what a tenant chose (a field name, a
// metadata key) or the upstream sent (a state, a message) reaches every
// page: a U+202E in it reversed the rest of its line. The templates
// write none, so the whole page is filtered rather than each value, and
// none is missed; the payload a page shows as JSON decodes the same.
func visible(page []byte) []byte {
	return shown.Escaped(page, func(r rune) bool { return r != '\n' && r != '\r' && r != '\t' && !strconv.IsPrint(r) })
}

// fail renders an error page with status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", http.StatusText(status), errorData{Status: status, Message: msg})
}

type errorData struct {
	Status  int
	Message string
}
