package emulator

import (
	"fmt"
	"mime"
	"net/http"
)

// ProtectHTTP serves h only to requests that cannot come from another web
// site. Every request must name this emulator in its Host
// (CheckRequestHost: against DNS rebinding). A request that may change
// state (any method but GET, HEAD and OPTIONS) must come from no web page
// or from a page of the server's own origin (net/http's
// CrossOriginProtection reads Sec-Fetch-Site and Origin), and, when it is
// a POST, PUT or PATCH, say Content-Type: application/json, which a page
// of another site cannot send without a CORS preflight that is never
// granted here (forms and simple requests send text/plain, form or
// multipart bodies). Refusals are 403, or 415 for the content type, with
// {"error": "..."}; nothing else happens for them.
func (s *Server) ProtectHTTP(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.CheckRequestHost(r); err != nil {
			s.log.Info("HTTP request refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusForbidden, err)
			return
		}
		if err := cop.Check(r); err != nil {
			s.log.Info("HTTP request refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"), "err", err)
			writeError(w, http.StatusForbidden, fmt.Errorf("%s %s from another origin (%.100q) is refused, so that no web page can change the emulator: send it from no page (curl, a program) or from the emulator's own page: %w",
				r.Method, r.URL.Path, r.Header.Get("Origin"), err))
			return
		}
		if err := checkJSONBody(r); err != nil {
			writeError(w, http.StatusUnsupportedMediaType, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// checkJSONBody requires Content-Type: application/json of the methods
// that carry a body. DELETE carries none; a web page of another site
// cannot send one without a preflight, which CrossOriginProtection covers.
func checkJSONBody(r *http.Request) error {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	return fmt.Errorf("%s %s needs Content-Type: application/json, not %.100q (curl: -H 'Content-Type: application/json')", r.Method, r.URL.Path, ct)
}
