package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// csp allows scripts, styles, images and fetches from the dashboard itself
// only: no inline script, no inline style sheet, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// assetVersions maps a static file to a short hash of its content, for
// cache-busting URLs.
var assetVersions = func() map[string]string {
	out := map[string]string{}
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	return out
}()

var funcs = template.FuncMap{
	"asset": func(name string) (string, error) {
		v, ok := assetVersions[name]
		if !ok {
			return "", fmt.Errorf("no static file %q", name)
		}
		return "/app/static/" + name + "?v=" + v, nil
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02")
	},
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:12] + "…"
		}
		return s
	},
	"pct":  func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" },
	"num":  func(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) },
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	"has": func(xs []string, x string) bool {
		for _, y := range xs {
			if y == x {
				return true
			}
		}
		return false
	},
}

// pages maps a page name (a file in templates/ without .html) to its
// template: the layout, the shared partials and the page.
var pages = func() map[string]*template.Template {
	shared := []string{"templates/layout.html", "templates/partials.html"}
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, append(shared, "templates/"+e.Name())...))
	}
	return out
}()

// view is what every page template gets.
type view struct {
	Title string
	User  *userView // nil when signed out
	CSRF  string
	Flash []flash
	Nav   []navItem
	Demo  bool
	Data  any
}

type userView struct {
	Member string
	Org    string
	Roles  []string
}

type navItem struct {
	Href, Label string
	Current     bool
}

// securityHeaders sets the headers of every dashboard answer.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// render writes page name inside the layout, or only its "fragment"
// template for an htmx request that asks for a fragment (HX-Request and
// a page that defines one).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := pages[name]
	if !ok {
		s.log.Error("no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if v.Demo = s.cfg.Demo; v.Title == "" {
		v.Title = "medledger"
	}
	root := "layout"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" && t.Lookup("fragment") != nil {
		root = "fragment"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, root, v); err != nil {
		s.log.Error("render page", "page", name, "err", err)
		if name != "error" {
			s.fail(w, r, http.StatusInternalServerError, "Something went wrong", "The dashboard could not show this page. Nothing was changed. Try again.")
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Vary", "HX-Request")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorView is what the error page shows.
type errorView struct {
	Status         int
	Title, Message string
}

// fail renders the error page: a title and a plain message, never an
// internal error or a stack trace.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	v := &view{Title: title, Data: errorView{Status: status, Title: title, Message: msg}}
	if c, err := r.Cookie(s.cookieName(r, sessionCookie)); err == nil {
		if sess, ok := s.sessions.get(c.Value); ok {
			v.User, v.CSRF, v.Nav = s.userView(sess.principal()), sess.csrf, s.nav(sess.principal(), "")
		}
	}
	s.render(w, r, status, "error", v)
}

// serveStatic serves the embedded front-end files.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := path.Clean("/" + r.PathValue("file"))[1:]
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || name == "" {
		s.fail(w, r, http.StatusNotFound, "Page not found", "There is no such file.")
		return
	}
	h := w.Header()
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" || strings.HasPrefix(name, "vendor/LICENSE") || strings.HasSuffix(name, "MANIFEST") {
		ct = "text/plain; charset=utf-8"
	}
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == assetVersions[name] {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	w.Write(b)
}
