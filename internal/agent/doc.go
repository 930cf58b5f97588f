// Package agent is `truesight run`: New assembles the sensor, process
// state, container registry, engine, scan and outputs from a
// configuration, Run watches until its context ends and Reload swaps the
// rules. Its Loop turns the sensor's records into events and process
// state, runs them through the engine and hands alerts to the outputs;
// LoadEngine and EngineOptions are the one way every command builds an
// engine from rules files and a configuration. The translation keeps
// Falco's event and parameter names, so upstream rules see what they
// expect.
package agent
