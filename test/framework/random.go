package framework

import (
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

// SeedEnv names the environment variable that replays a test's random
// choices: set it to the seed the test logged.
const SeedEnv = "BINDERY_TEST_SEED"

// Rand returns a source of random choices for one test, seeded from
// SeedEnv when set and from the clock otherwise, and logs the seed, so that
// a failing run can be replayed.
func Rand(t TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(SeedEnv); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q is not a seed: %v", SeedEnv, v, err)
		}
		seed = s
	}
	t.Logf("random choices seeded with %d; replay with %s=%d", seed, SeedEnv, seed)
	return rand.New(rand.NewPCG(seed, seed))
}
