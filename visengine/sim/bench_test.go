package sim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// BenchmarkCreate measures POST /richiesta through ServeHTTP (no network), in parallel.
func BenchmarkCreate(b *testing.B) {
	s := sim.New(sim.Config{Token: token, Wallet: 1e9})
	defer s.Close()
	body, _ := json.Marshal(iseeBody(nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/richiesta", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("got %d", rec.Code)
			}
		}
	})
}

// BenchmarkGet measures GET /richiesta/{id}.
func BenchmarkGet(b *testing.B) {
	s := sim.New(sim.Config{Token: token, Wallet: 1e9})
	defer s.Close()
	body, _ := json.Marshal(iseeBody(nil))
	req := httptest.NewRequest(http.MethodPost, "/richiesta", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var env struct {
		Data struct {
			ID string `json:"_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/richiesta/"+env.Data.ID, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
		}
	})
}

// BenchmarkList measures GET /richiesta with 10,000 requests.
func BenchmarkList(b *testing.B) {
	s := sim.New(sim.Config{Token: token, Wallet: 1e9})
	defer s.Close()
	body, _ := json.Marshal(iseeBody(nil))
	for range 10000 {
		req := httptest.NewRequest(http.MethodPost, "/richiesta", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		s.ServeHTTP(httptest.NewRecorder(), req)
	}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/richiesta", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		s.ServeHTTP(httptest.NewRecorder(), req)
	}
}
