"""Payment provider adapters behind one small Protocol, found through entry points."""

from __future__ import annotations

from .base import CallbackReply as CallbackReply
from .base import CallbackRequest as CallbackRequest
from .base import CallbackResult as CallbackResult
from .base import Outcome as Outcome
from .base import PaymentQuery as PaymentQuery
from .base import PaymentRequest as PaymentRequest
from .base import ProviderAdapter as ProviderAdapter
from .base import ProviderEvent as ProviderEvent
from .base import Redirect as Redirect
from .base import RefundRequest as RefundRequest
from .base import RefundResult as RefundResult
from .base import SettlementLine as SettlementLine
from .base import ShowQR as ShowQR
from .base import StartResult as StartResult
from .base import SupportsRefund as SupportsRefund
from .base import SupportsSettlement as SupportsSettlement
