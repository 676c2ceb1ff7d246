// Package downward answers the downward API: the pod fields (`fieldRef`) and container resources
// (`resourceFieldRef`) a pod may read about itself, for environment variables and for downwardAPI
// volumes alike, so both render a value the same way.
//
// It only reads the pod it is given; it never talks to the API server.
package downward
