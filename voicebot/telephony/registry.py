"""Every telephony platform the server answers: a new one is a package beside these and a line here."""

from voicebot.telephony import acs, exotel, genesys, plivo, telnyx, twilio, vonage
from voicebot.telephony.platform import Platform

PLATFORMS: tuple[Platform, ...] = (
    twilio.PLATFORM,
    genesys.PLATFORM,
    telnyx.PLATFORM,
    plivo.PLATFORM,
    vonage.PLATFORM,
    exotel.PLATFORM,
    acs.PLATFORM,
)
