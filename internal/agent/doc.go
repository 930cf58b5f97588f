// Package agent is the live path: it turns the sensor's records into events
// and process state, runs them through the engine and hands alerts to the
// outputs. The translation keeps Falco's event and parameter names, so
// upstream rules see what they expect.
package agent
