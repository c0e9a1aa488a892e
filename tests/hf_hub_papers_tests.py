# Copyright 2020 The HuggingFace Team. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Vendored by dailypapers from the huggingface_hub 2.4.0 sdist (PyPI), tests/test_hf_api.py: the
# class TestPaperApi only, unmodified. Changed: the imports (only what the class uses, from the
# installed huggingface_hub instead of the sdist's test package) and ENDPOINT_PRODUCTION, which
# tests/test_hf_hub_papers.py points at a live dailypapers server before the tests run. Not
# collected on its own (the file name does not match test_*.py).
import datetime

import pytest

from huggingface_hub import HfApi
from huggingface_hub.errors import BadRequestError, HfHubHTTPError
from huggingface_hub.hf_api import DatasetInfo, ModelInfo, SpaceInfo

ENDPOINT_PRODUCTION = "http://127.0.0.1:8000"  # replaced by the live server's address


class TestPaperApi:
    @pytest.fixture(autouse=True)
    def _api(self):
        self.api = HfApi(endpoint=ENDPOINT_PRODUCTION)

    def test_papers_by_query(self) -> None:
        papers = list(self.api.list_papers(query="llama"))
        assert len(papers) > 0
        assert "The Llama 3 Herd of Models" in [paper.title for paper in papers]

    def test_papers_by_query_with_limit(self) -> None:
        papers = list(self.api.list_papers(query="llama", limit=2))
        assert len(papers) == 2

    def test_get_paper_by_id_success(self) -> None:
        paper = self.api.paper_info("2407.21783")
        assert paper.title == "The Llama 3 Herd of Models"

    def test_get_paper_by_id_returns_linked_repos(self) -> None:
        paper = self.api.paper_info("2601.15621")
        assert paper.linked_models is not None and len(paper.linked_models) > 0
        assert all(isinstance(m, ModelInfo) for m in paper.linked_models)
        assert paper.num_total_models is not None and paper.num_total_models > 0
        assert paper.linked_datasets is not None
        assert all(isinstance(d, DatasetInfo) for d in paper.linked_datasets)
        assert paper.num_total_datasets is not None
        assert paper.linked_spaces is not None and len(paper.linked_spaces) > 0
        assert all(isinstance(s, SpaceInfo) for s in paper.linked_spaces)

    def test_get_paper_by_id_not_found(self) -> None:
        with pytest.raises(HfHubHTTPError) as context:
            self.api.paper_info("1234.56789")
        assert context.value.response.status_code == 404

    def test_list_daily_papers_by_date(self) -> None:
        papers = list(self.api.list_daily_papers(date="2025-10-29"))
        assert len(papers) > 0
        assert hasattr(papers[0], "id")
        assert hasattr(papers[0], "title")

    def test_list_daily_papers_by_date_invalid_date(self) -> None:
        with pytest.raises(BadRequestError):
            list(self.api.list_daily_papers(date="2025-13-40"))

    def test_list_daily_papers_default_date(self) -> None:
        papers = list(self.api.list_daily_papers())
        assert len(papers) > 0
        assert hasattr(papers[0], "id")
        assert hasattr(papers[0], "title")

    def test_list_daily_papers_week(self) -> None:
        week = 44
        papers = list(self.api.list_daily_papers(week=f"2025-W{week}"))
        assert len(papers) > 0
        first_paper = papers[0]
        last_paper = papers[-1]

        # friday of previous week
        week_start = datetime.datetime.fromisocalendar(2025, week - 1, 5).replace(tzinfo=datetime.timezone.utc)
        week_end = datetime.datetime.fromisocalendar(2025, week, 7).replace(tzinfo=datetime.timezone.utc)
        assert week_start <= first_paper.submitted_at <= week_end
        assert week_start <= last_paper.submitted_at <= week_end

    def test_list_daily_papers_month(self) -> None:
        month = 10
        papers = list(self.api.list_daily_papers(month=f"2025-{month}"))
        assert len(papers) > 0
        first_paper = papers[0]
        last_paper = papers[-1]
        # last day of previous month
        month_start = datetime.datetime(2025, month, 1, tzinfo=datetime.timezone.utc) - datetime.timedelta(days=1)
        month_end = datetime.datetime(2025, month + 1, 1, tzinfo=datetime.timezone.utc) - datetime.timedelta(days=1)
        assert month_start <= first_paper.submitted_at <= month_end
        assert month_start <= last_paper.submitted_at <= month_end

    def test_daily_papers_submitter(self) -> None:
        papers = list(self.api.list_daily_papers(submitter="akhaliq"))
        assert len(papers) > 0
        assert papers[0].submitted_by.fullname == "AK"

    def test_daily_papers_p(self) -> None:
        papers = list(self.api.list_daily_papers(date="2025-10-29", p=100))
        assert len(papers) == 0

    def test_daily_papers_limit(self) -> None:
        papers = list(self.api.list_daily_papers(date="2025-10-29", limit=10))
        assert len(papers) == 10
