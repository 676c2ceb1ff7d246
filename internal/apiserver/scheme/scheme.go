package scheme

import (
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

var (
	// Scheme knows every type the API server reads or writes.
	Scheme = runtime.NewScheme()
	// Codecs are the serializers over Scheme, for content negotiation.
	Codecs serializer.CodecFactory
	// Protobuf is the storage encoding: compact and fast to decode, as upstream stores objects.
	Protobuf *protobuf.Serializer
	// JSON encodes response bodies.
	JSON *json.Serializer
	// StrictJSON and StrictYAML decode request bodies and report unknown or duplicate fields as
	// strict decoding errors, for fieldValidation.
	StrictJSON *json.Serializer
	StrictYAML *json.Serializer
	// ParameterCodec decodes query parameters into the meta/v1 option types (ListOptions, ...).
	ParameterCodec runtime.ParameterCodec
	// YAML decodes and encodes application/yaml bodies.
	YAML *json.Serializer
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(apidiscoveryv2.AddToScheme(Scheme))
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	// The option types (DeleteOptions, ...) also live in meta.k8s.io/v1: kubectl sends its delete
	// options in that group, and a body without apiVersion is read as that group's by default.
	metav1.AddToGroupVersion(Scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(metav1.AddMetaToScheme(Scheme))
	utilruntime.Must(metav1beta1.AddMetaToScheme(Scheme))
	Codecs = serializer.NewCodecFactory(Scheme)
	ParameterCodec = runtime.NewParameterCodec(Scheme)
	Protobuf = protobuf.NewSerializer(Scheme, Scheme)
	JSON = json.NewSerializerWithOptions(json.DefaultMetaFactory, Scheme, Scheme, json.SerializerOptions{})
	YAML = json.NewSerializerWithOptions(json.DefaultMetaFactory, Scheme, Scheme, json.SerializerOptions{Yaml: true})
	StrictJSON = json.NewSerializerWithOptions(json.DefaultMetaFactory, Scheme, Scheme, json.SerializerOptions{Strict: true})
	StrictYAML = json.NewSerializerWithOptions(json.DefaultMetaFactory, Scheme, Scheme, json.SerializerOptions{Yaml: true, Strict: true})
}
