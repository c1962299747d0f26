package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxFaultsBody bounds a POST /faults body.
const maxFaultsBody = 1 << 20

// FaultsHandler is the admin API for faults on demand, to mount at
// "/faults" and "/faults/" (the paths it serves are absolute):
//
//	GET    /faults       {"active": [timed faults in effect], "stats": {counts}}
//	                     (counts: injected and hits by kind, and what they did)
//	POST   /faults       a fault object or an array of them (as ParseFaults
//	                     reads); all are validated before any is injected;
//	                     answers {"injected": [...]} with each one's id and hits
//	DELETE /faults       ends every timed fault: {"removed": N}
//	DELETE /faults/{id}  ends one: {"removed": 1}, or 404
//
// Bad input (malformed JSON, an unknown kind or field, a negative
// duration, a hub or partition the emulator does not serve) gets 400 with
// {"error": "..."} naming the bad value. The handler has no
// authentication: serve it on loopback only. It refuses what a web page
// could send (ProtectHTTP): a Host that does not name the emulator, a
// POST or DELETE from another origin, a POST whose Content-Type is not
// application/json.
func (s *Server) FaultsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		st := s.faults.stats()
		if st.Injected == nil {
			st.Injected = map[FaultKind]int64{}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"active": s.Faults(),
			"stats": map[string]any{
				"injected":           st.Injected,
				"hits":               st.Hits,
				"sendsRejected":      st.SendsRejected,
				"receiversDetached":  st.ReceiversDetached,
				"connectionsDropped": st.ConnectionsDropped,
			},
		})
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFaultsBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over %d bytes", maxFaultsBody))
				return
			}
			writeError(w, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err))
			return
		}
		faults, err := ParseFaults(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		injected, err := s.InjectFaults(faults)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"injected": injected})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"removed": s.ClearFaults()})
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		raw := r.PathValue("id")
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("fault id %q is not a positive whole number", raw))
			return
		}
		if !s.RemoveFault(id) {
			writeError(w, http.StatusNotFound, fmt.Errorf("no fault %d is in effect (it ended, was removed, fired once, or never was)", id))
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"removed": 1})
	})
	return s.ProtectHTTP(mux)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
