import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VoiceVAInputMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INPUT_VOICE_MODE_UNSPECIFIED: _ClassVar[VoiceVAInputMode]
    INPUT_VOICE: _ClassVar[VoiceVAInputMode]
    INPUT_EVENT_DTMF: _ClassVar[VoiceVAInputMode]
    INPUT_VOICE_DTMF: _ClassVar[VoiceVAInputMode]

class DTMFDigits(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTMF_EVENT_UNSPECIFIED: _ClassVar[DTMFDigits]
    DTMF_DIGIT_ONE: _ClassVar[DTMFDigits]
    DTMF_DIGIT_TWO: _ClassVar[DTMFDigits]
    DTMF_DIGIT_THREE: _ClassVar[DTMFDigits]
    DTMF_DIGIT_FOUR: _ClassVar[DTMFDigits]
    DTMF_DIGIT_FIVE: _ClassVar[DTMFDigits]
    DTMF_DIGIT_SIX: _ClassVar[DTMFDigits]
    DTMF_DIGIT_SEVEN: _ClassVar[DTMFDigits]
    DTMF_DIGIT_EIGHT: _ClassVar[DTMFDigits]
    DTMF_DIGIT_NINE: _ClassVar[DTMFDigits]
    DTMF_DIGIT_ZERO: _ClassVar[DTMFDigits]
    DTMF_DIGIT_A: _ClassVar[DTMFDigits]
    DTMF_DIGIT_B: _ClassVar[DTMFDigits]
    DTMF_DIGIT_C: _ClassVar[DTMFDigits]
    DTMF_DIGIT_D: _ClassVar[DTMFDigits]
    DTMF_DIGIT_STAR: _ClassVar[DTMFDigits]
    DTMF_DIGIT_POUND: _ClassVar[DTMFDigits]
INPUT_VOICE_MODE_UNSPECIFIED: VoiceVAInputMode
INPUT_VOICE: VoiceVAInputMode
INPUT_EVENT_DTMF: VoiceVAInputMode
INPUT_VOICE_DTMF: VoiceVAInputMode
DTMF_EVENT_UNSPECIFIED: DTMFDigits
DTMF_DIGIT_ONE: DTMFDigits
DTMF_DIGIT_TWO: DTMFDigits
DTMF_DIGIT_THREE: DTMFDigits
DTMF_DIGIT_FOUR: DTMFDigits
DTMF_DIGIT_FIVE: DTMFDigits
DTMF_DIGIT_SIX: DTMFDigits
DTMF_DIGIT_SEVEN: DTMFDigits
DTMF_DIGIT_EIGHT: DTMFDigits
DTMF_DIGIT_NINE: DTMFDigits
DTMF_DIGIT_ZERO: DTMFDigits
DTMF_DIGIT_A: DTMFDigits
DTMF_DIGIT_B: DTMFDigits
DTMF_DIGIT_C: DTMFDigits
DTMF_DIGIT_D: DTMFDigits
DTMF_DIGIT_STAR: DTMFDigits
DTMF_DIGIT_POUND: DTMFDigits

class VoiceVARequest(_message.Message):
    __slots__ = ("conversation_id", "customer_org_id", "virtual_agent_id", "allow_partial_responses", "vendor_specific_config", "audio_input", "dtmf_input", "event_input", "additional_info")
    class AdditionalInfoEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ORG_ID_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PARTIAL_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    VENDOR_SPECIFIC_CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_INPUT_FIELD_NUMBER: _ClassVar[int]
    DTMF_INPUT_FIELD_NUMBER: _ClassVar[int]
    EVENT_INPUT_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_INFO_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    customer_org_id: str
    virtual_agent_id: str
    allow_partial_responses: bool
    vendor_specific_config: str
    audio_input: VoiceInput
    dtmf_input: DTMFInputs
    event_input: EventInput
    additional_info: _containers.ScalarMap[str, str]
    def __init__(self, conversation_id: _Optional[str] = ..., customer_org_id: _Optional[str] = ..., virtual_agent_id: _Optional[str] = ..., allow_partial_responses: bool = ..., vendor_specific_config: _Optional[str] = ..., audio_input: _Optional[_Union[VoiceInput, _Mapping]] = ..., dtmf_input: _Optional[_Union[DTMFInputs, _Mapping]] = ..., event_input: _Optional[_Union[EventInput, _Mapping]] = ..., additional_info: _Optional[_Mapping[str, str]] = ...) -> None: ...

class VoiceInput(_message.Message):
    __slots__ = ("caller_audio", "encoding", "sample_rate_hertz", "audio_timestamp", "language_code", "is_single_utterance")
    class VoiceEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNSPECIFIED_FORMAT: _ClassVar[VoiceInput.VoiceEncoding]
        LINEAR16_FORMAT: _ClassVar[VoiceInput.VoiceEncoding]
        MULAW_FORMAT: _ClassVar[VoiceInput.VoiceEncoding]
        ALAW_FORMAT: _ClassVar[VoiceInput.VoiceEncoding]
    UNSPECIFIED_FORMAT: VoiceInput.VoiceEncoding
    LINEAR16_FORMAT: VoiceInput.VoiceEncoding
    MULAW_FORMAT: VoiceInput.VoiceEncoding
    ALAW_FORMAT: VoiceInput.VoiceEncoding
    CALLER_AUDIO_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    AUDIO_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    IS_SINGLE_UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    caller_audio: bytes
    encoding: VoiceInput.VoiceEncoding
    sample_rate_hertz: int
    audio_timestamp: _timestamp_pb2.Timestamp
    language_code: str
    is_single_utterance: bool
    def __init__(self, caller_audio: _Optional[bytes] = ..., encoding: _Optional[_Union[VoiceInput.VoiceEncoding, str]] = ..., sample_rate_hertz: _Optional[int] = ..., audio_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., language_code: _Optional[str] = ..., is_single_utterance: bool = ...) -> None: ...

class VoiceVAResponse(_message.Message):
    __slots__ = ("prompts", "output_events", "input_sensitive", "input_mode", "input_handling_config", "session_transcript", "session_summary", "response_type")
    class ResponseType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FINAL: _ClassVar[VoiceVAResponse.ResponseType]
        PARTIAL: _ClassVar[VoiceVAResponse.ResponseType]
        CHUNK: _ClassVar[VoiceVAResponse.ResponseType]
    FINAL: VoiceVAResponse.ResponseType
    PARTIAL: VoiceVAResponse.ResponseType
    CHUNK: VoiceVAResponse.ResponseType
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    INPUT_MODE_FIELD_NUMBER: _ClassVar[int]
    INPUT_HANDLING_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SESSION_TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    SESSION_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TYPE_FIELD_NUMBER: _ClassVar[int]
    prompts: _containers.RepeatedCompositeFieldContainer[Prompt]
    output_events: _containers.RepeatedCompositeFieldContainer[OutputEvent]
    input_sensitive: bool
    input_mode: VoiceVAInputMode
    input_handling_config: InputHandlingConfig
    session_transcript: TextContent
    session_summary: TextContent
    response_type: VoiceVAResponse.ResponseType
    def __init__(self, prompts: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ..., output_events: _Optional[_Iterable[_Union[OutputEvent, _Mapping]]] = ..., input_sensitive: bool = ..., input_mode: _Optional[_Union[VoiceVAInputMode, str]] = ..., input_handling_config: _Optional[_Union[InputHandlingConfig, _Mapping]] = ..., session_transcript: _Optional[_Union[TextContent, _Mapping]] = ..., session_summary: _Optional[_Union[TextContent, _Mapping]] = ..., response_type: _Optional[_Union[VoiceVAResponse.ResponseType, str]] = ...) -> None: ...

class Prompt(_message.Message):
    __slots__ = ("text", "audio_uri", "audio_content", "is_barge_in_enabled")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_URI_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    IS_BARGE_IN_ENABLED_FIELD_NUMBER: _ClassVar[int]
    text: str
    audio_uri: str
    audio_content: bytes
    is_barge_in_enabled: bool
    def __init__(self, text: _Optional[str] = ..., audio_uri: _Optional[str] = ..., audio_content: _Optional[bytes] = ..., is_barge_in_enabled: bool = ...) -> None: ...

class TextContent(_message.Message):
    __slots__ = ("text", "ssml", "language_code")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SSML_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    text: str
    ssml: str
    language_code: str
    def __init__(self, text: _Optional[str] = ..., ssml: _Optional[str] = ..., language_code: _Optional[str] = ...) -> None: ...

class InputSpeechTimers(_message.Message):
    __slots__ = ("max_speech_timeout_msec", "complete_timeout_msec", "incomplete_timeout_msec", "no_input_timeout_msec")
    MAX_SPEECH_TIMEOUT_MSEC_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIMEOUT_MSEC_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_TIMEOUT_MSEC_FIELD_NUMBER: _ClassVar[int]
    NO_INPUT_TIMEOUT_MSEC_FIELD_NUMBER: _ClassVar[int]
    max_speech_timeout_msec: int
    complete_timeout_msec: int
    incomplete_timeout_msec: int
    no_input_timeout_msec: int
    def __init__(self, max_speech_timeout_msec: _Optional[int] = ..., complete_timeout_msec: _Optional[int] = ..., incomplete_timeout_msec: _Optional[int] = ..., no_input_timeout_msec: _Optional[int] = ...) -> None: ...

class InputHandlingConfig(_message.Message):
    __slots__ = ("dtmf_config", "speech_timers")
    DTMF_CONFIG_FIELD_NUMBER: _ClassVar[int]
    SPEECH_TIMERS_FIELD_NUMBER: _ClassVar[int]
    dtmf_config: DTMFInputConfig
    speech_timers: InputSpeechTimers
    def __init__(self, dtmf_config: _Optional[_Union[DTMFInputConfig, _Mapping]] = ..., speech_timers: _Optional[_Union[InputSpeechTimers, _Mapping]] = ...) -> None: ...

class DTMFInputConfig(_message.Message):
    __slots__ = ("inter_digit_timeout_msec", "termchar", "dtmf_input_length")
    INTER_DIGIT_TIMEOUT_MSEC_FIELD_NUMBER: _ClassVar[int]
    TERMCHAR_FIELD_NUMBER: _ClassVar[int]
    DTMF_INPUT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    inter_digit_timeout_msec: int
    termchar: DTMFDigits
    dtmf_input_length: int
    def __init__(self, inter_digit_timeout_msec: _Optional[int] = ..., termchar: _Optional[_Union[DTMFDigits, str]] = ..., dtmf_input_length: _Optional[int] = ...) -> None: ...

class DTMFInputs(_message.Message):
    __slots__ = ("dtmf_events",)
    DTMF_EVENTS_FIELD_NUMBER: _ClassVar[int]
    dtmf_events: _containers.RepeatedScalarFieldContainer[DTMFDigits]
    def __init__(self, dtmf_events: _Optional[_Iterable[_Union[DTMFDigits, str]]] = ...) -> None: ...

class ListVARequest(_message.Message):
    __slots__ = ("customer_org_id", "is_default_virtual_agent_enabled")
    CUSTOMER_ORG_ID_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_VIRTUAL_AGENT_ENABLED_FIELD_NUMBER: _ClassVar[int]
    customer_org_id: str
    is_default_virtual_agent_enabled: bool
    def __init__(self, customer_org_id: _Optional[str] = ..., is_default_virtual_agent_enabled: bool = ...) -> None: ...

class VirtualAgentInfo(_message.Message):
    __slots__ = ("virtual_agent_id", "virtual_agent_name", "is_default", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VIRTUAL_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    virtual_agent_id: str
    virtual_agent_name: str
    is_default: bool
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, virtual_agent_id: _Optional[str] = ..., virtual_agent_name: _Optional[str] = ..., is_default: bool = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListVAResponse(_message.Message):
    __slots__ = ("virtual_agents",)
    VIRTUAL_AGENTS_FIELD_NUMBER: _ClassVar[int]
    virtual_agents: _containers.RepeatedCompositeFieldContainer[VirtualAgentInfo]
    def __init__(self, virtual_agents: _Optional[_Iterable[_Union[VirtualAgentInfo, _Mapping]]] = ...) -> None: ...

class OutputEvent(_message.Message):
    __slots__ = ("event_type", "name", "metadata")
    class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNSPECIFIED_EVENT: _ClassVar[OutputEvent.EventType]
        SESSION_END: _ClassVar[OutputEvent.EventType]
        TRANSFER_TO_AGENT: _ClassVar[OutputEvent.EventType]
        CUSTOM_EVENT: _ClassVar[OutputEvent.EventType]
        START_OF_INPUT: _ClassVar[OutputEvent.EventType]
        END_OF_INPUT: _ClassVar[OutputEvent.EventType]
        NO_MATCH: _ClassVar[OutputEvent.EventType]
        NO_INPUT: _ClassVar[OutputEvent.EventType]
    UNSPECIFIED_EVENT: OutputEvent.EventType
    SESSION_END: OutputEvent.EventType
    TRANSFER_TO_AGENT: OutputEvent.EventType
    CUSTOM_EVENT: OutputEvent.EventType
    START_OF_INPUT: OutputEvent.EventType
    END_OF_INPUT: OutputEvent.EventType
    NO_MATCH: OutputEvent.EventType
    NO_INPUT: OutputEvent.EventType
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    event_type: OutputEvent.EventType
    name: str
    metadata: _struct_pb2.Struct
    def __init__(self, event_type: _Optional[_Union[OutputEvent.EventType, str]] = ..., name: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class EventInput(_message.Message):
    __slots__ = ("event_type", "name", "parameters")
    class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNSPECIFIED_INPUT: _ClassVar[EventInput.EventType]
        SESSION_START: _ClassVar[EventInput.EventType]
        SESSION_END: _ClassVar[EventInput.EventType]
        NO_INPUT: _ClassVar[EventInput.EventType]
        START_OF_DTMF: _ClassVar[EventInput.EventType]
        CUSTOM_EVENT: _ClassVar[EventInput.EventType]
    UNSPECIFIED_INPUT: EventInput.EventType
    SESSION_START: EventInput.EventType
    SESSION_END: EventInput.EventType
    NO_INPUT: EventInput.EventType
    START_OF_DTMF: EventInput.EventType
    CUSTOM_EVENT: EventInput.EventType
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    event_type: EventInput.EventType
    name: str
    parameters: _struct_pb2.Struct
    def __init__(self, event_type: _Optional[_Union[EventInput.EventType, str]] = ..., name: _Optional[str] = ..., parameters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
