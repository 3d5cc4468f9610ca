"""Demo endpoints: send a signal and show what every receiver did, with the trace id."""

from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .signals import purchase_complete, test_celery_signal, test_signal


class DemoView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def respond(self, result):
        return Response(result.as_dict())


class TestSignalView(DemoView):
    """GET /demo_lms/test/: two receivers, one succeeds, one raises."""

    def get(self, request):
        return self.respond(test_signal.send(self.__class__, message=request.GET.get("message", "hello")))


class TestCelerySignalView(DemoView):
    """GET /demo_lms/test_celery_signal/: a receiver that is a Celery task, shown queued with its task id."""

    def get(self, request):
        return self.respond(test_celery_signal.send(self.__class__, message=request.GET.get("message", "hello")))


class DemoPurchaseCompleteView(DemoView):
    """GET /demo_lms/demo_purchase_complete/: three receivers, one of which sends enroll_learner per course."""

    def get(self, request):
        keys = request.GET.get("course_run_keys", "course-v1:edX+DemoX+Demo_Course,course-v1:edX+E2E+2026")
        result = purchase_complete.send(
            self.__class__,
            order_number=request.GET.get("order_number", "DEMO-0001"),
            lms_user_id=3,
            course_run_keys=[k for k in keys.split(",") if k],
        )
        return self.respond(result)
