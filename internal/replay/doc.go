// Package replay runs a scap capture through the rule engine as if its
// events were live: it joins the capture's enter and exit halves into
// exit-only events, keeps process and fd state from the capture's tables
// and from clone, execve, open, socket, close and exit events, and calls
// back with every alert, stamped with the capture's time. It is the
// engine's input for `truesight replay`; the sensor is the live one.
package replay
