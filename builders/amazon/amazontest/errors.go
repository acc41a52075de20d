package amazontest

import (
	"fmt"
	"net/http"
)

// apiError is an EC2 error reply: a code the SDK exposes as
// smithy.APIError.ErrorCode, a message and an HTTP status.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// errf returns an HTTP 400 EC2 error.
func errf(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errMissing(param string) *apiError {
	return errf("MissingParameter", "The request must contain the parameter %s", param)
}

func errInvalid(format string, args ...any) *apiError {
	return errf("InvalidParameterValue", format, args...)
}

// notFoundCode is the NotFound error code EC2 uses for each id prefix.
func notFoundCode(id string) string {
	switch idPrefix(id) {
	case "i":
		return "InvalidInstanceID.NotFound"
	case "ami":
		return "InvalidAMIID.NotFound"
	case "snap":
		return "InvalidSnapshot.NotFound"
	case "sg":
		return "InvalidGroup.NotFound"
	case "key":
		return "InvalidKeyPair.NotFound"
	case "vpc":
		return "InvalidVpcID.NotFound"
	case "subnet":
		return "InvalidSubnetID.NotFound"
	case "vol":
		return "InvalidVolume.NotFound"
	}
	return "InvalidID"
}

// errNotFound is the NotFound error for the resource id.
func errNotFound(id string) *apiError {
	switch idPrefix(id) {
	case "i":
		return errf(notFoundCode(id), "The instance ID '%s' does not exist", id)
	case "ami":
		return errf(notFoundCode(id), "The image id '[%s]' does not exist", id)
	case "snap":
		return errf(notFoundCode(id), "The snapshot '%s' does not exist.", id)
	case "sg":
		return errf(notFoundCode(id), "The security group '%s' does not exist", id)
	case "key":
		return errf(notFoundCode(id), "The key pair '%s' does not exist", id)
	case "vpc":
		return errf(notFoundCode(id), "The vpc ID '%s' does not exist", id)
	case "subnet":
		return errf(notFoundCode(id), "The subnet ID '%s' does not exist", id)
	case "vol":
		return errf(notFoundCode(id), "The volume '%s' does not exist.", id)
	}
	return errf("InvalidID", "The ID '%s' is not valid", id)
}
